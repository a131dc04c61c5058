"""The TCP quaternion's sign is continuous around the gripper-down orientation."""

from __future__ import annotations

import numpy as np

from simreal.geometry import canonical_quat
from simreal.sim import ObservationConfig, make_env
from simreal.sim.controllers import yaw_down_quat


def test_canonical_sign_is_continuous_for_a_gripper_pointing_down():
    yaws = np.linspace(-np.pi / 2, np.pi / 2, 50)
    quats = np.array(
        [canonical_quat(-yaw_down_quat(y) if i % 2 else yaw_down_quat(y)) for i, y in enumerate(yaws)]
    )
    assert np.all(quats[:, 1] > 0.7)  # one hemisphere, whatever sign came in
    assert np.abs(np.diff(quats, axis=0)).max() < 0.05


def test_pick_place_state_quaternion_never_flips_within_an_expert_episode():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"))
    obs, _ = env.reset(seed=3)
    expert = env.make_expert(np.random.default_rng(3))
    quats = [obs["observation.state"][11:15]]
    for _ in range(120):
        obs, *_ = env.step(expert.act(obs))
        quats.append(obs["observation.state"][11:15])
    quats = np.array(quats)
    assert np.abs(np.diff(quats, axis=0)).max() < 0.1
