"""Damped least-squares IK reaches poses within 1 mm; the servos then track them."""

from __future__ import annotations

import numpy as np

from simreal.sim import ObservationConfig, make_env
from simreal.sim.controllers import quat_error, yaw_down_quat


def test_ik_reaches_random_reachable_poses():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"))
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        # Top-down poses across the workspace, each solved from the home posture.
        target = np.array([rng.uniform(0.3, 0.7), rng.uniform(-0.3, 0.3), rng.uniform(0.02, 0.4)])
        quat = yaw_down_quat(rng.uniform(-np.pi / 2, np.pi / 2))
        q = env.ik.solve(target, quat, env.home_q)
        lower, upper = env.robot.joint_limits
        assert np.all(q >= lower[:7]) and np.all(q <= upper[:7])
        pos, reached = env.ik.forward(q)
        assert np.linalg.norm(pos - target) < 1e-3
        assert np.linalg.norm(quat_error(quat, reached)) < 1e-2


def test_servos_track_ik_targets():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"))
    env.reset(seed=0)
    target, quat = np.array([0.55, 0.15, 0.12]), yaw_down_quat(0.4)
    q = env.ik.solve(target, quat, env.home_q)
    for _ in range(30):  # 1.5 s of the same joint targets
        obs = env.step(np.append(q, 0.0).astype(np.float32))[0]
    assert np.linalg.norm(obs["observation.state"][8:11] - target) < 2e-3


def test_ee_delta_controller_moves_the_tcp():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"), controller="ee_delta")
    obs, _ = env.reset(seed=0)
    start = obs["observation.state"][8:11].copy()
    step = np.array([0.01, -0.01, -0.005, 0, 0, 0, 0], dtype=np.float32)
    for _ in range(10):
        obs = env.step(step)[0]
    for _ in range(10):  # settle
        obs = env.step(np.zeros(7, dtype=np.float32))[0]
    moved = obs["observation.state"][8:11] - start
    np.testing.assert_allclose(moved, [0.1, -0.1, -0.05], atol=3e-3)


def test_ee_pose_controller_reaches_the_commanded_pose():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"), controller="ee_pose")
    env.reset(seed=0)
    target, quat = np.array([0.5, -0.1, 0.15]), yaw_down_quat(0.3)
    action = np.concatenate([target, quat, [0.0]]).astype(np.float32)
    for _ in range(30):
        obs = env.step(action)[0]
    np.testing.assert_allclose(obs["observation.state"][8:11], target, atol=2e-3)
    angle = np.linalg.norm(quat_error(quat, obs["observation.state"][11:15]))
    assert angle < 0.02
    controller, q_now = env.ee_controller, env.ee_controller.q_target.copy()
    outside = np.concatenate([[2.0, -0.1, 0.15], 0.5 * quat, [1.0]])  # beyond the workspace, |q| = 0.5
    q_outside = controller.joint_targets(outside)[0]
    controller.reset(q_now)
    edge = np.concatenate([[env.config.ee_workspace[1][0], -0.1, 0.15], quat, [1.0]])
    np.testing.assert_allclose(q_outside, controller.joint_targets(edge)[0], atol=1e-9)
