"""peg_insert: hole geometry and clearance, contact stability, the success predicate, the expert."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from simreal.sim import ObservationConfig, make_env


@pytest.fixture
def env():
    env = make_env("peg_insert", obs=ObservationConfig.parse("state"))
    yield env
    env.close()


def place_peg(env, xy, bottom_z, yaw=0.0):
    q = env.model.joint("peg").qposadr[0]
    center_z = bottom_z + env.config.peg_length / 2
    env.data.qpos[q : q + 7] = (*xy, center_z, math.cos(yaw / 2), 0, 0, math.sin(yaw / 2))
    env.data.qvel[env.model.joint("peg").dofadr[0] :][:6] = 0.0
    mujoco.mj_forward(env.model, env.data)


def hole_width(env) -> float:
    """Gap (m) between the inner faces of two opposite walls, read from the compiled model."""
    model = env.model
    north, south = model.geom("hole_north").id, model.geom("hole_south").id
    inner_north = model.geom_pos[north][1] - model.geom_size[north][1]
    inner_south = model.geom_pos[south][1] + model.geom_size[south][1]
    return float(inner_north - inner_south)


def test_clearance_is_within_spec(env):
    width = hole_width(env)
    clearance = width - env.config.peg_width
    assert clearance == pytest.approx(env.config.clearance) and 0.0 < clearance <= 0.002
    assert all(env.model.geom(f"hole_{side}").type == mujoco.mjtGeom.mjGEOM_BOX for side in ("east", "west"))


def test_success_predicate(env):
    env.reset(seed=0)
    assert not env.is_success() and env.progress() < 0.5
    hole, yaw = env.hole_pose()
    place_peg(env, hole[:2], 0.0, yaw)  # all the way down
    assert env.is_success() and env.progress() == 1.0
    place_peg(env, hole[:2], env.config.hole_depth - 0.01, yaw)  # only 1 cm in
    assert not env.is_success() and 0.5 < env.progress() < 1.0
    assert env.outcome() == pytest.approx(
        {"peg_offset_m": 0.0, "peg_depth_m": 0.01, "fingers_on_peg": 0.0}, abs=1e-6
    )
    place_peg(env, hole[:2] + np.array([0.2, 0.0]), 0.0, yaw)  # on the table elsewhere
    assert not env.is_success()


def test_inserted_peg_rests_stably(env):
    """A peg dropped into the hole settles without jitter or penetration through the walls."""
    env.reset(seed=1)
    hole, yaw = env.hole_pose()
    place_peg(env, hole[:2] + 0.0005, 0.005, yaw + 0.02)
    env.advance(1000)  # 2 s
    offset, depth = env.insertion()
    velocity = env.data.qvel[env.model.joint("peg").dofadr[0] :][:6]
    assert np.abs(velocity).max() < 1e-2
    assert depth == pytest.approx(env.config.hole_depth, abs=1e-3)
    assert offset <= env.config.clearance / 2 + 2e-4


def test_randomized_poses_are_separated(env):
    pegs, holes = [], []
    for seed in range(10):
        env.reset(seed=seed)
        peg, _ = env.peg_pose()
        hole, _ = env.hole_pose()
        assert np.linalg.norm(peg[:2] - hole[:2]) >= env.config.min_separation
        pegs.append(peg[:2])
        holes.append(hole[:2])
    assert np.ptp(np.array(pegs), axis=0).min() > 0.05 and np.ptp(np.array(holes), axis=0).min() > 0.05


@pytest.mark.parametrize(("controller", "seed"), [("joint_pos", 0), ("joint_pos", 1), ("ee_delta", 2)])
def test_expert_succeeds(controller, seed):
    env = make_env("peg_insert", obs=ObservationConfig.parse("state"), controller=controller)
    obs, info = env.reset(seed=seed)
    expert = env.make_expert(np.random.default_rng(seed))
    for _ in range(env.max_episode_steps):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["success"] and terminated and info["progress"] == 1.0
    env.close()
