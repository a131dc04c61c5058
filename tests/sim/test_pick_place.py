"""pick_place: the success predicate and the scripted expert."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from simreal.sim import ObservationConfig, make_env


@pytest.fixture
def env():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"))
    yield env
    env.close()


def place_cube(env, xy, z=None):
    q = env.model.joint("cube").qposadr[0]
    env.data.qpos[q : q + 7] = (*xy, env.config.cube_half_size if z is None else z, 1, 0, 0, 0)
    mujoco.mj_forward(env.model, env.data)


def test_success_predicate(env):
    env.reset(seed=0)
    assert not env.is_success()
    pad = env.target_position()
    place_cube(env, pad[:2] + 0.01, z=pad[2] + env.config.cube_half_size)
    assert env.is_success() and env.progress() == 1.0
    place_cube(env, pad[:2] + 0.05, z=pad[2] + env.config.cube_half_size)
    assert not env.is_success() and env.progress() < 1.0
    assert env.outcome() == pytest.approx(
        {"cube_to_pad_m": 0.05 * 2**0.5, "cube_above_pad_m": 0.0, "cube_held": 0.0}
    )
    place_cube(env, pad[:2], z=pad[2] + env.config.cube_half_size + 0.05)  # held above it
    assert not env.is_success()
    assert env.outcome()["cube_above_pad_m"] == pytest.approx(0.05)


@pytest.mark.parametrize("controller", ["joint_pos", "ee_delta", "ee_pose"])
def test_expert_succeeds(controller):
    env = make_env("pick_place", obs=ObservationConfig.parse("state"), controller=controller)
    outcomes, progress = [], []
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        expert = env.make_expert(np.random.default_rng(seed))
        trace = [info["progress"]]
        for _ in range(env.max_episode_steps):
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            trace.append(info["progress"])
            if terminated or truncated:
                break
        outcomes.append(info["success"])
        progress.append(trace)
    assert all(outcomes), outcomes
    for trace in progress:
        assert trace[-1] == 1.0 and trace[0] < 0.5


def test_expert_noise_diversifies_demos():
    env = make_env("pick_place", obs=ObservationConfig.parse("state"))
    paths = []
    for rng_seed in (0, 1):
        env.reset(seed=5)
        expert = env.make_expert(np.random.default_rng(rng_seed))
        paths.append(np.array([expert.act(None) for _ in range(20)]))
    assert np.abs(paths[0] - paths[1]).max() > 1e-3


@pytest.mark.parametrize("controller", ["joint_pos", "ee_delta", "ee_pose"])
def test_recovery_demo_closes_on_nothing_then_grasps_again(controller):
    """With expert_miss_rate 1, the executed motion drifts beside the cube while the recorded actions
    stay the expert's: the jaw closes empty, the empty lift makes the expert plan again, and the second
    grasp places the cube."""
    env = make_env(
        "pick_place", obs=ObservationConfig.parse("state"), controller=controller, expert_miss_rate=1.0
    )
    obs, info = env.reset(seed=0)
    expert = env.make_expert(np.random.default_rng(0))
    closed_empty, perturbed_steps = False, 0
    for _ in range(env.max_episode_steps):
        recorded = expert.act(obs)
        perturbed_steps += not np.allclose(recorded, expert.executed_action)
        obs, _, terminated, truncated, info = env.step(expert.executed_action)
        closed_empty |= bool(recorded[-1] > 0.5 and obs["observation.state"][7] < 0.005)
        if info["success"] or truncated:
            break
    assert info["success"] and closed_empty
    assert perturbed_steps > 20  # the drift grows over the first approach and fades on the second
