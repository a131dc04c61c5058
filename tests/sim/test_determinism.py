"""reset(seed) determines the episode: same seed -> same observation, same actions -> same physics."""

from __future__ import annotations

import numpy as np

from simreal.sim import ObservationConfig, make_env

OBS = ObservationConfig(num_points=128, image_size=(48, 48))


def rollout(env, seed: int, actions: np.ndarray):
    first, _ = env.reset(seed=seed)
    states = []
    for action in actions:
        env.step(action)
        states.append(env.physics_state())
    return first, np.array(states)


def test_same_seed_same_episode():
    env_a, env_b = make_env("pick_place", obs=OBS), make_env("pick_place", obs=OBS)
    rng = np.random.default_rng(0)
    actions = np.array([env_a.action_space.sample() for _ in range(5)])
    expert = env_a.make_expert(rng)
    env_a.reset(seed=11)
    actions = np.concatenate([actions, [expert.act(None) for _ in range(5)]])
    first_a, states_a = rollout(env_a, 11, actions)
    first_b, states_b = rollout(env_b, 11, actions)
    for key in first_a:
        np.testing.assert_array_equal(first_a[key], first_b[key], err_msg=key)
    np.testing.assert_array_equal(states_a, states_b)
    first_c, _ = rollout(env_a, 12, actions[:1])
    assert not np.array_equal(first_a["observation.pointcloud"], first_c["observation.pointcloud"])


def test_physics_state_restores():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"))
    env.reset(seed=1)
    action = np.append(env.robot.qpos()[:7] + 0.05, 0.5).astype(np.float32)
    env.step(action)
    snapshot = env.physics_state()
    after_one = env.step(action)[0]["observation.state"]
    env.set_physics_state(snapshot)
    np.testing.assert_array_equal(env.step(action)[0]["observation.state"], after_one)
