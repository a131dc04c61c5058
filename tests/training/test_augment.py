"""Scene-shift augmentation: one offset per window moves cloud, state positions and actions together."""

import pytest
import torch

from simreal.errors import UserError
from simreal.train import train
from simreal.training.augment import SceneShift, position_channels
from simreal.training.config import TrainConfig

STATE_NAMES = ["joint1", "joint2", "gripper_opening", "tcp_x", "tcp_y", "tcp_z", "tcp_qw"]
ENV_NAMES = ["cube_x", "cube_y", "cube_z", "cube_cos4yaw", "pad_x", "pad_y"]
ACTION_NAMES = ["x", "y", "z", "qw", "qx", "qy", "qz", "gripper"]
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [7], "names": STATE_NAMES},
    "observation.environment_state": {"dtype": "float32", "shape": [6], "names": ENV_NAMES},
    "observation.pointcloud": {"dtype": "float32", "shape": [32, 6], "names": ["points", "xyzrgb"]},
    "action": {"dtype": "float32", "shape": [8], "names": ACTION_NAMES},
}


def batch(size=64):
    generator = torch.Generator().manual_seed(1)
    return {
        "observation.state": torch.rand(size, 2, 7, generator=generator),
        "observation.environment_state": torch.rand(size, 2, 6, generator=generator),
        "observation.pointcloud": torch.rand(size, 2, 32, 6, generator=generator),
        "action": torch.rand(size, 16, 8, generator=generator),
        "action_is_pad": torch.zeros(size, 16, dtype=torch.bool),
    }


def test_position_channels_by_name():
    assert position_channels(STATE_NAMES, "x") == [3]
    assert position_channels(ENV_NAMES, "y") == [1, 5]
    assert position_channels(ACTION_NAMES, "x") == [0]
    assert position_channels(None, "x") == []


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
    torch.testing.assert_close(
        shifted["action"][..., :2] - original["action"][..., :2], expected.expand(-1, 16, 2)
    )
    state_delta = shifted["observation.state"] - original["observation.state"]
    torch.testing.assert_close(state_delta[..., 3:5], expected.expand(-1, 2, 2))
    env_delta = shifted["observation.environment_state"] - original["observation.environment_state"]
    torch.testing.assert_close(env_delta[..., [0, 1]], expected.expand(-1, 2, 2))
    torch.testing.assert_close(env_delta[..., [4, 5]], expected.expand(-1, 2, 2))
    cloud_delta = shifted["observation.pointcloud"] - original["observation.pointcloud"]
    torch.testing.assert_close(cloud_delta[..., :2], expected.view(-1, 1, 1, 2).expand(-1, 2, 32, 2))

    # joints, heights, orientations, the gripper, colours and padding flags stay as they were
    assert not state_delta[..., [0, 1, 2, 5, 6]].any()
    assert not env_delta[..., [2, 3]].any()
    assert not cloud_delta[..., 2:].any()
    assert not (shifted["action"][..., 2:] - original["action"][..., 2:]).any()
    assert shifted["action_is_pad"] is original["action_is_pad"]


def test_refuses_what_it_cannot_shift():
    with pytest.raises(UserError, match="camera images.*observation.images.front"):
        SceneShift(0.03, {**FEATURES, "observation.images.front": {"dtype": "video", "shape": [96, 96, 3]}})
    joints = {"dtype": "float32", "shape": [8], "names": [f"joint{i}" for i in range(8)]}
    with pytest.raises(UserError, match="TCP-pose actions"):
        SceneShift(0.03, {**FEATURES, "action": joints})
    with pytest.raises(UserError, match="> 0 m"):
        SceneShift(0.0, FEATURES)
    with pytest.raises(UserError, match="--shift-augment must be >= 0"):
        TrainConfig(policy="meanflow", dataset="d", out="o", shift_augment_m=-0.01)


def test_train_refuses_unnamed_actions_before_writing(synthetic_pointcloud_dataset, tmp_path):
    config = TrainConfig(
        policy="meanflow",
        dataset=str(synthetic_pointcloud_dataset),
        out=str(tmp_path / "run"),
        obs=("state", "pointcloud"),
        preset="tiny",
        steps=2,
        batch_size=4,
        device="cpu",
        shift_augment_m=0.03,
    )
    with pytest.raises(UserError, match="TCP-pose actions"):
        train(config)
    assert not (tmp_path / "run").exists()


def test_trains_on_a_shifted_pick_place_dataset(tmp_path):
    from simreal.collect import CollectConfig, collect
    from simreal.sim import ObservationConfig

    obs = ObservationConfig.parse("state,pointcloud,points=32")
    collect(CollectConfig("pick_place", 1, tmp_path / "data", obs, controller="ee_pose"), progress=False)
    config = TrainConfig(
        policy="meanflow",
        dataset=str(tmp_path / "data"),
        out=str(tmp_path / "run"),
        obs=("state", "pointcloud"),
        preset="tiny",
        steps=3,
        batch_size=8,
        device="cpu",
        shift_augment_m=0.04,
    )
    result = train(config)
    assert result.step == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    assert TrainConfig.load(tmp_path / "run").shift_augment_m == 0.04
