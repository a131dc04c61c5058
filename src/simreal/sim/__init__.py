"""MuJoCo tasks for simreal: our Panda-like arm on a table, cameras, point clouds, scripted experts.

    env = make_env("pick_place", obs=ObservationConfig(), controller="joint_pos")
    obs, info = env.reset(seed=0)

`TASKS` maps each short task name to its class (`default_config()`, `description`).
"""

from __future__ import annotations

import dataclasses
import os

# Headless rendering by default (EGL); must be set before mujoco is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

from simreal.errors import UserError
from simreal.sim.base import CONTROLLERS, SimTaskEnv, TaskConfig
from simreal.sim.observation import ObservationConfig
from simreal.sim.registry import GYM_IDS, TASKS, load_tasks

__all__ = [
    "CONTROLLERS",
    "GYM_IDS",
    "TASKS",
    "ObservationConfig",
    "SimTaskEnv",
    "TaskConfig",
    "make_env",
]

load_tasks()


def make_env(
    task: str,
    *,
    obs: ObservationConfig | None = None,
    controller: str = "joint_pos",
    render_mode: str | None = "rgb_array",
    **overrides,
) -> SimTaskEnv:
    """A new env of `task` ("pick_place", ...). `overrides` replace fields of the task's config
    (`TASKS[task].default_config()`), e.g. `max_episode_steps=100`. UserError on an unknown task,
    controller, camera or config field."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; valid tasks: {', '.join(sorted(TASKS))}")
    cls = TASKS[task]
    config = cls.default_config()
    valid = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise UserError(
            f"unknown {task} config field(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
        )
    return cls(
        obs=obs,
        controller=controller,
        config=dataclasses.replace(config, **overrides),
        render_mode=render_mode,
    )
