"""The env_state observation: LeRobot's observation.environment_state from each task's simulator state."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from simreal.errors import UserError
from simreal.sim import TASKS, ObservationConfig, make_env
from simreal.sim.observation import ENV_STATE_KEY
from simreal.sim.tasks.pick_place import PickPlaceEnv, yaw_of

OBS = ObservationConfig.parse("state,env_state")
NAMES = {
    "pick_place": ["cube_x", "cube_y", "cube_z", "cube_cos4yaw", "cube_sin4yaw", "pad_x", "pad_y"],
    "push_t": [
        *("block_x", "block_y", "block_cos_yaw", "block_sin_yaw"),
        *("target_x", "target_y", "target_cos_yaw", "target_sin_yaw"),
    ],
    "peg_insert": [
        *("peg_x", "peg_y", "peg_z", "peg_cos4yaw", "peg_sin4yaw", "peg_tilt_x", "peg_tilt_y"),
        *("hole_x", "hole_y", "hole_cos4yaw", "hole_sin4yaw"),
    ],
}


def test_parse_and_round_trip():
    assert ObservationConfig().env_state is False
    assert OBS.env_state and OBS.state and not (OBS.rgb or OBS.pointcloud)
    only = ObservationConfig.parse("env_state")  # a modality on its own
    assert only.env_state and not only.state
    assert ObservationConfig(**OBS.to_dict()) == OBS


@pytest.mark.parametrize("task", sorted(TASKS))
def test_feature_shape_names_and_space(task):
    assert set(NAMES) == set(TASKS)
    env = make_env(task, obs=OBS, controller="ee_pose")
    feature = env.features[ENV_STATE_KEY]
    assert feature == {"dtype": "float32", "shape": (len(NAMES[task]),), "names": NAMES[task]}
    assert env.observation_space[ENV_STATE_KEY].shape == feature["shape"]
    obs, _ = env.reset(seed=5)
    value = obs[ENV_STATE_KEY]
    assert value.dtype == np.float32 and value.shape == feature["shape"] and np.all(np.isfinite(value))
    assert env.observation_space.contains(obs)
    env.close()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_deterministic_per_seed(task):
    env_a, env_b = make_env(task, obs=OBS), make_env(task, obs=OBS)
    runs = []
    for env in (env_a, env_b):
        obs, _ = env.reset(seed=7)
        expert = env.make_expert(np.random.default_rng(0))
        values = [obs[ENV_STATE_KEY]]
        for _ in range(30):
            obs = env.step(expert.act(obs))[0]
            values.append(obs[ENV_STATE_KEY])
        runs.append(np.array(values))
    np.testing.assert_array_equal(runs[0], runs[1])
    other, _ = env_a.reset(seed=8)
    assert not np.array_equal(other[ENV_STATE_KEY], runs[0][0])


def test_pick_place_values_follow_the_cube():
    env = make_env("pick_place", obs=OBS, controller="ee_pose")
    obs, _ = env.reset(seed=3)
    cube, quat = env.cube_pose()
    yaw = yaw_of(quat)
    expected = [*cube, math.cos(4 * yaw), math.sin(4 * yaw), *env.target_position()[:2]]
    np.testing.assert_allclose(obs[ENV_STATE_KEY], expected, atol=1e-6)
    # A quarter turn of the cube looks the same, so its encoding does not change.
    q = env._cube_qpos
    turned = yaw + math.pi / 2
    env.data.qpos[q + 3 : q + 7] = (math.cos(turned / 2), 0.0, 0.0, math.sin(turned / 2))
    np.testing.assert_allclose(env.environment_state(), expected, atol=1e-6)
    # The expert carries the cube onto the pad: the state ends with the cube's xy on the pad's.
    expert = env.make_expert(np.random.default_rng(0), noise=0.0)
    obs, _ = env.reset(seed=3)
    for _ in range(env.max_episode_steps):
        obs, _, terminated, _, _ = env.step(expert.act(obs))
        if terminated:
            break
    state = obs[ENV_STATE_KEY]
    assert terminated and np.linalg.norm(state[:2] - state[5:7]) < env.config.success_radius
    assert abs(state[2] - env.config.cube_half_size - 0.006) < 0.005  # resting on the 6 mm pad


def test_push_t_values_and_full_turn_symmetry():
    env = make_env("push_t", obs=OBS)
    obs, _ = env.reset(seed=4)
    x, y, yaw = env.block_pose()
    tx, ty, tyaw = env.config.target_pose
    expected = [x, y, math.cos(yaw), math.sin(yaw), tx, ty, math.cos(tyaw), math.sin(tyaw)]
    np.testing.assert_allclose(obs[ENV_STATE_KEY], expected, atol=1e-6)
    env.set_block_pose(np.array([x, y, yaw + math.pi / 2]))  # a T turned a quarter is another pose
    assert np.abs(env.environment_state()[2:4] - expected[2:4]).max() > 0.5


def test_peg_insert_values():
    env = make_env("peg_insert", obs=OBS)
    obs, _ = env.reset(seed=6)
    peg, _ = env.peg_pose()
    hole, hole_yaw = env.hole_pose()
    peg_yaw = env.peg_yaw()
    expected = [
        *peg, math.cos(4 * peg_yaw), math.sin(4 * peg_yaw), 0.0, 0.0,
        *hole[:2], math.cos(4 * hole_yaw), math.sin(4 * hole_yaw),
    ]  # fmt: skip
    np.testing.assert_allclose(obs[ENV_STATE_KEY], expected, atol=1e-6)
    # Knock the peg over onto its side: the tilt entries show it (the long axis now lies in xy).
    q = env._peg_qpos
    env.data.qpos[q + 3 : q + 7] = (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0)
    env.data.qpos[q + 2] = env.config.peg_width / 2
    mujoco.mj_forward(env.model, env.data)
    assert np.linalg.norm(env.environment_state()[5:7]) > 0.99


def test_task_without_environment_state_refuses_env_state():
    no_state = type("NoEnvState", (PickPlaceEnv,), {"environment_state_names": ()})
    with pytest.raises(UserError, match="environment state"):
        no_state(obs=OBS)
    assert ENV_STATE_KEY not in no_state(obs=ObservationConfig.parse("state")).features
