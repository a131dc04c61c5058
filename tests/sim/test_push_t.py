"""push_t: geometry, the success predicate, the push planner and the scripted expert."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from simreal.sim import ObservationConfig, make_env
from simreal.sim.tasks.push_t import TShape, plan_push


@pytest.fixture
def env():
    env = make_env("push_t", obs=ObservationConfig.parse("state"))
    yield env
    env.close()


def place(env, pose, spin=0.0):
    env.set_block_pose(np.asarray(pose, float))
    env.data.qvel[env._qvel + 5] = spin
    mujoco.mj_forward(env.model, env.data)


def test_t_shape_centre_of_mass_is_body_origin(env):
    env.reset(seed=0)
    body = env.model.body("tblock")
    np.testing.assert_allclose(env.model.body_ipos[body.id][:2], 0.0, atol=1e-9)
    shape = TShape((0.12, 0.03), (0.09, 0.03))
    # Outline points are on the T's boundary; the centre is inside, a point beyond the bar is not.
    points, normals = shape.contact_candidates()
    np.testing.assert_allclose(shape.distance(points), 0.0, atol=1e-9)
    assert shape.distance(points + 0.005 * normals).min() > 0.0049
    assert shape.distance(np.zeros((1, 2)))[0] == 0.0


def test_success_predicate(env):
    env.reset(seed=0)
    assert not env.is_success() and env.progress() < 1.0
    x, y, yaw = env.target
    place(env, (x + 0.012, y - 0.008, yaw + math.radians(6)))
    assert env.is_success() and env.progress() == 1.0
    place(env, (x + 0.03, y, yaw))  # 3 cm off
    assert not env.is_success() and 0.9 < env.progress() < 1.0
    assert env.outcome() == pytest.approx(
        {"block_position_error_m": 0.03, "block_yaw_error_rad": 0.0}, abs=1e-6
    )
    place(env, (x, y, yaw + math.radians(20)))  # turned 20 deg
    assert not env.is_success()
    place(env, (x, y, yaw), spin=1.0)  # at the target but still turning: not held
    assert not env.is_success()
    place(env, (x - 0.15, y + 0.1, yaw + math.pi))
    assert env.progress() < 0.5


def test_start_poses_are_random_and_away_from_the_target(env):
    poses = []
    for seed in range(20):
        env.reset(seed=seed)
        pose = env.block_pose()
        pos_err, yaw_err = env.pose_error(pose)
        assert pos_err >= env.config.start_min_pos_error or yaw_err >= env.config.start_min_yaw_error
        assert np.all(pose[:2] >= env.config.region_low) and np.all(pose[:2] <= env.config.region_high)
        poses.append(pose)
    assert np.ptp(np.array(poses), axis=0).min() > 0.1


def test_planner_pushes_towards_the_goal():
    shape = TShape((0.12, 0.03), (0.09, 0.03))
    candidates = shape.contact_candidates()
    # Pure translation along +x: push along +x from the -x side, roughly through the centre.
    push = plan_push(candidates, np.array([0.4, 0.0, 0.3]), np.array([0.5, 0.0, 0.3]), 0.04)
    assert push.direction[0] > 0.9 and push.contact[0] < 0.4 and push.alignment > 0.9
    # Pure counter-clockwise turn: the push's moment about the centre is positive.
    pose = np.array([0.5, 0.0, 0.0])
    push = plan_push(candidates, pose, np.array([0.5, 0.0, 0.5]), 0.04)
    r = push.contact - pose[:2]
    assert r[0] * push.direction[1] - r[1] * push.direction[0] > 0.0


@pytest.mark.parametrize(("controller", "seed"), [("joint_pos", 0), ("joint_pos", 1), ("ee_delta", 2)])
def test_expert_succeeds(controller, seed):
    env = make_env("push_t", obs=ObservationConfig.parse("state"), controller=controller)
    obs, info = env.reset(seed=seed)
    expert = env.make_expert(np.random.default_rng(seed))
    start = info["progress"]
    for _ in range(env.max_episode_steps):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["success"] and terminated and info["progress"] == 1.0 > start
    env.close()
