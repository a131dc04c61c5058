"""Scene-shift augmentation: one offset per window moves cloud, state positions and actions together."""

import mujoco
import numpy as np
import pytest
import torch

from simreal.errors import UserError
from simreal.train import train
from simreal.training.augment import (
    SceneShift,
    check_task_allows_shift,
    scene_image_motion,
    translate_images,
)
from simreal.training.config import TrainConfig

STATE_NAMES = ["joint1", "joint2", "gripper_opening", "tcp_x", "tcp_y", "tcp_z", "tcp_qw"]
ACTION_NAMES = ["x", "y", "z", "qw", "qx", "qy", "qz", "gripper"]
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [7], "names": STATE_NAMES},
    "observation.pointcloud": {"dtype": "float32", "shape": [32, 6], "names": ["points", "xyzrgb"]},
    "action": {"dtype": "float32", "shape": [8], "names": ACTION_NAMES},
}


def batch(size=64):
    generator = torch.Generator().manual_seed(1)
    return {
        "observation.state": torch.rand(size, 2, 7, generator=generator),
        "observation.pointcloud": torch.rand(size, 2, 32, 6, generator=generator),
        "action": torch.rand(size, 16, 8, generator=generator),
        "action_is_pad": torch.zeros(size, 16, dtype=torch.bool),
    }


def test_one_offset_per_window_moves_every_position_alike():
    original = batch()
    kept = {k: v.clone() for k, v in original.items()}
    torch.manual_seed(0)
    shifted = SceneShift(0.03, FEATURES)(original)
    for key, value in original.items():
        assert torch.equal(value, kept[key]), f"{key} was modified in place"

    offset = shifted["action"][:, 0, :2] - original["action"][:, 0, :2]  # (B, 2)
    assert offset.abs().max() <= 0.03 + 1e-6 and offset.abs().max() > 0.02
    assert offset.std(dim=0).min() > 0.01, "each window draws its own offset"
    expected = offset.view(-1, 1, 2)
    action_delta = shifted["action"] - original["action"]
    torch.testing.assert_close(action_delta[..., :2], expected.expand(-1, 16, 2))
    state_delta = shifted["observation.state"] - original["observation.state"]
    torch.testing.assert_close(state_delta[..., 3:5], expected.expand(-1, 2, 2))
    cloud_delta = shifted["observation.pointcloud"] - original["observation.pointcloud"]
    torch.testing.assert_close(cloud_delta[..., :2], expected.view(-1, 1, 1, 2).expand(-1, 2, 32, 2))

    # joints, heights, orientations, the gripper, colours and padding flags stay as they were
    assert not state_delta[..., [0, 1, 2, 5, 6]].any()
    assert not cloud_delta[..., 2:].any()
    assert not action_delta[..., 2:].any()
    assert shifted["action_is_pad"] is original["action_is_pad"]


def test_images_move_by_their_cameras_motion_and_wrist_images_stay():
    front, wrist = "observation.images.front", "observation.images.wrist"
    image = {"dtype": "video", "shape": [24, 32, 3]}
    motion = np.array([[0.0, 100.0], [50.0, 0.0]])  # right = 100 px/m of y, down = 50 px/m of x
    shift = SceneShift(0.05, {**FEATURES, front: image, wrist: image}, {front: motion, wrist: None})
    original = batch(8)
    original[front] = torch.zeros(8, 2, 3, 24, 32)
    original[front][..., 10, 12] = 1.0  # one lit pixel
    original[wrist] = torch.rand(8, 2, 3, 24, 32)
    torch.manual_seed(0)
    shifted = shift(original)

    offset = shifted["action"][:, 0, :2] - original["action"][:, 0, :2]
    pixels = offset @ torch.tensor(motion, dtype=torch.float32).T  # (B, 2) right, down
    rows = torch.arange(24, dtype=torch.float32).view(24, 1)
    cols = torch.arange(32, dtype=torch.float32).view(1, 32)
    lit = shifted[front][:, :, 0]  # (B, T, H, W): the pixel, spread bilinearly where it landed
    mass = lit.sum(dim=(-2, -1))
    torch.testing.assert_close(mass, torch.ones_like(mass), atol=1e-4, rtol=0)
    torch.testing.assert_close((lit * cols).sum(dim=(-2, -1)) / mass, 12 + pixels[:, :1].expand(-1, 2))
    torch.testing.assert_close((lit * rows).sum(dim=(-2, -1)) / mass, 10 + pixels[:, 1:].expand(-1, 2))
    assert torch.equal(shifted[wrist], original[wrist])


def test_translated_images_repeat_the_edge():
    images = torch.arange(5.0).view(1, 1, 1, 1, 5).expand(1, 1, 1, 2, 5)
    moved = translate_images(images, torch.tensor([[2.0, 0.0]]))
    torch.testing.assert_close(moved[0, 0, 0, 0], torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0]))


def test_the_front_image_shift_follows_the_rendered_scene():
    """Moving the cube by the offset in MuJoCo moves its image as the shift's translation does."""
    from simreal.sim import ObservationConfig, make_env

    obs = ObservationConfig(cameras=("front", "wrist"), image_size=(96, 96))
    features = {f"observation.images.{cam}": {"dtype": "video", "shape": [96, 96, 3]} for cam in obs.cameras}
    motion = scene_image_motion({"task": "pick_place"}, features)
    assert motion["observation.images.wrist"] is None

    env = make_env("pick_place", obs=obs, controller="ee_pose").unwrapped
    try:
        env.reset(seed=3)
        before = env.render_camera("front")[0]
        offset = np.array([0.04, -0.03])
        cube = env.model.joint("cube").qposadr[0]
        env.data.qpos[cube : cube + 2] += offset
        mujoco.mj_forward(env.model, env.data)
        after = env.render_camera("front")[0]
    finally:
        env.close()

    def cube_centre(image: np.ndarray) -> np.ndarray:
        red = (image[..., 0] > 120) & (image[..., 1] < 70) & (image[..., 2] < 70)
        rows, cols = np.nonzero(red)
        assert len(rows) > 20, "the cube is in view"
        return np.array([cols.mean(), rows.mean()])

    rendered = cube_centre(after) - cube_centre(before)
    predicted = motion["observation.images.front"] @ offset
    assert np.linalg.norm(rendered) > 4  # a visible move
    np.testing.assert_allclose(predicted, rendered, atol=1.0)  # pixels


def test_refuses_what_it_cannot_shift():
    with pytest.raises(UserError, match="how the scene moves in camera images .observation.images.front"):
        SceneShift(0.03, {**FEATURES, "observation.images.front": {"dtype": "video", "shape": [96, 96, 3]}})
    with pytest.raises(UserError, match="names no simreal task"):
        scene_image_motion(None, {"observation.images.front": {"dtype": "video", "shape": [96, 96, 3]}})
    joints = {"dtype": "float32", "shape": [8], "names": [f"joint{i}" for i in range(8)]}
    with pytest.raises(UserError, match="action entries named x, y .TCP-pose actions"):
        SceneShift(0.03, {**FEATURES, "action": joints})
    env_state = {"dtype": "float32", "shape": [4], "names": ["peg_x", "peg_y", "peg_tilt_x", "peg_tilt_y"]}
    with pytest.raises(UserError, match="which entries of observation.environment_state are positions"):
        SceneShift(0.03, {**FEATURES, "observation.environment_state": env_state})
    with pytest.raises(UserError, match="> 0 m"):
        SceneShift(0.0, FEATURES)
    with pytest.raises(UserError, match="--shift-augment must be >= 0"):
        TrainConfig(policy="meanflow", dataset="d", out="o", shift_augment_m=-0.01)


def test_tasks_whose_goal_is_not_in_the_scene_are_refused():
    check_task_allows_shift("pick_place")
    check_task_allows_shift("peg_insert")
    check_task_allows_shift(None)  # a dataset without a simreal task (a real robot's)
    with pytest.raises(UserError, match="push_t's goal is not part of the observed scene"):
        check_task_allows_shift("push_t")


def shifted_config(dataset, tmp_path, obs=("state", "pointcloud")) -> TrainConfig:
    """A tiny 3-step MeanFlow run on `dataset` with a 4 cm scene shift, into tmp_path/run."""
    return TrainConfig(
        policy="meanflow",
        dataset=str(dataset),
        out=str(tmp_path / "run"),
        obs=obs,
        preset="tiny",
        steps=3,
        batch_size=8,
        device="cpu",
        shift_augment_m=0.04,
    )


def one_demo(task, tmp_path, spec="state,pointcloud,points=32"):
    """One scripted `task` episode (by default state + 32-point cloud; TCP-pose actions) under
    tmp_path/data."""
    from simreal.collect import CollectConfig, collect
    from simreal.sim import ObservationConfig

    obs = ObservationConfig.parse(spec)
    collect(CollectConfig(task, 1, tmp_path / "data", obs, controller="ee_pose"), progress=False)
    return tmp_path / "data"


def test_train_refuses_unnamed_positions_before_writing(synthetic_pointcloud_dataset, tmp_path):
    with pytest.raises(UserError, match="needs observation.state entries named tcp_x, tcp_y"):
        train(shifted_config(synthetic_pointcloud_dataset, tmp_path))
    assert not (tmp_path / "run").exists()


def test_train_refuses_push_t_before_writing(tmp_path):
    with pytest.raises(UserError, match="push_t's goal is not part of the observed scene"):
        train(shifted_config(one_demo("push_t", tmp_path), tmp_path))
    assert not (tmp_path / "run").exists()


def test_trains_on_a_shifted_pick_place_dataset(tmp_path):
    result = train(shifted_config(one_demo("pick_place", tmp_path), tmp_path))
    assert result.step == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    assert TrainConfig.load(tmp_path / "run").shift_augment_m == 0.04


def test_trains_on_shifted_pick_place_images(tmp_path):
    dataset = one_demo("pick_place", tmp_path, "state,rgb,cameras=front+wrist,size=32x32")
    result = train(shifted_config(dataset, tmp_path, obs=("state", "rgb")))
    assert result.step == 3 and all(torch.isfinite(torch.tensor(result.losses)))
