"""Every registered task: creates, resets, steps with the contract's shapes and dtypes; bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from simreal.errors import UserError
from simreal.sim import GYM_IDS, TASKS, ObservationConfig, make_env

FULL_OBS = ObservationConfig(
    env_state=True, depth=True, pointcloud_color=True, num_points=256, image_size=(64, 64)
)


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("controller", ["joint_pos", "ee_delta", "ee_pose"])
def test_task_creates_resets_steps(task, controller):
    env = make_env(task, obs=FULL_OBS, controller=controller)
    obs, info = env.reset(seed=3)
    features = env.features
    assert set(obs) == set(features) - {"action"}
    assert set(info) >= {"success", "progress"}
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        for key, value in obs.items():
            feat = features[key]
            assert value.shape == tuple(feat["shape"]), key
            assert value.dtype == (np.uint8 if feat["dtype"] == "video" else np.float32), key
            assert np.all(np.isfinite(value)), key
        assert isinstance(info["success"], bool) and 0.0 <= info["progress"] <= 1.0
        assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert features["action"]["shape"] == ((7,) if controller == "ee_delta" else (8,))
    state = obs["observation.state"]
    assert state.shape == (15,) and 0.0 <= state[7] <= 0.0801  # gripper opening in metres
    assert env.render().shape == (*env.config.render_size, 3)
    env.close()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_gym_id_and_truncation(task):
    env = gym.make(GYM_IDS[task], obs=ObservationConfig.parse("state"), max_episode_steps=4)
    env.reset(seed=0)
    hold = np.append(env.unwrapped.robot.qpos()[:7], 0.0).astype(np.float32)
    truncated = [env.step(hold)[3] for _ in range(4)]
    assert truncated == [False, False, False, True]
    env.close()


def test_robot_level_api():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"))
    env.reset(seed=0)
    robot = env.robot
    lower, upper = robot.joint_limits
    assert len(robot.joint_names) == 8 and lower.shape == upper.shape == (8,)
    target = robot.qpos()[:7] + np.array([0.1, -0.1, 0.05, 0.1, 0.0, 0.1, -0.2])
    robot.set_joint_targets(target, 1.0)
    env.advance(500)  # 1 s
    assert np.abs(robot.qpos()[:7] - target).max() < 2e-3
    assert robot.qpos()[7] < 0.002  # jaw closed on nothing
    assert np.abs(robot.qvel()).max() < 0.05
    with pytest.raises(UserError, match="joint4"):
        robot.set_joint_targets(np.append(target[:3], [0.5, 0, 1, 0]), 0.0)
    with pytest.raises(UserError):
        robot.set_joint_targets(np.full(7, np.nan), 0.0)
    np.testing.assert_allclose(robot.qpos()[:7], env.data.qpos[:7])  # nothing changed by bad input
    env.close()


def test_camera_calibration_and_bad_input():
    env = make_env("pick_place", obs=ObservationConfig.parse("state,rgb,size=48x64"))
    env.reset(seed=0)
    rgb, depth = env.render_camera("front")
    assert rgb.shape == (48, 64, 3) and depth.shape == (48, 64) and depth.dtype == np.float32
    k = env.camera_intrinsics("front")
    assert k[0, 2] == pytest.approx(31.5) and k[1, 2] == pytest.approx(23.5)
    pose = env.camera_pose("wrist")
    np.testing.assert_allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-9)
    # The wrist camera looks down at the table: its optical axis (z) points mostly along -z.
    assert pose[2, 2] < -0.8
    with pytest.raises(UserError, match="unknown camera 'top'"):
        env.render_camera("top")
    with pytest.raises(UserError, match="unknown camera"):
        make_env("pick_place", obs=ObservationConfig(cameras=("front", "top")))
    with pytest.raises(UserError, match="valid tasks"):
        make_env("stack_blocks")
    with pytest.raises(UserError, match="unknown controller"):
        make_env("pick_place", controller="torque")
    with pytest.raises(UserError, match="config field"):
        make_env("pick_place", max_steps=3)
    with pytest.raises(UserError, match="action must be"):
        env.step(np.full(8, np.nan, dtype=np.float32))
    env.close()


def test_observation_config_parse():
    cfg = ObservationConfig.parse("state,pointcloud,color,cameras=front,points=1024,size=128x96")
    assert cfg.state and cfg.pointcloud and cfg.pointcloud_color and not cfg.rgb and not cfg.depth
    assert cfg.cameras == ("front",) and cfg.num_points == 1024 and cfg.image_size == (128, 96)
    assert ObservationConfig(**cfg.to_dict()) == cfg.validated()
    with pytest.raises(UserError, match="bad observation item"):
        ObservationConfig.parse("state,lidar")
    with pytest.raises(UserError, match="switches every modality off"):
        ObservationConfig.parse("cameras=front")
