"""The task registry: short name -> task class, and the matching gymnasium ids.

A task module under simreal/sim/tasks/ registers itself with the `register_task` decorator; every
module in that package is imported by `load_tasks()`, so adding a task is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

import gymnasium as gym

TASKS: dict[str, type] = {}
GYM_IDS: dict[str, str] = {}


def register_task(name: str, gym_id: str):
    """Class decorator: records the task under `name` and registers `gym_id` (e.g.
    "simreal/PickPlace-v0") with gymnasium, so `gymnasium.make(gym_id, obs=..., controller=...)` works
    once simreal.sim is imported."""

    def decorate(cls):
        cls.name = name
        TASKS[name] = cls
        GYM_IDS[name] = gym_id
        if gym_id not in gym.registry:
            gym.register(id=gym_id, entry_point="simreal.sim:make_env", kwargs={"task": name})
        return cls

    return decorate


def load_tasks() -> dict[str, type]:
    """Imports every module of simreal.sim.tasks (each registers itself) and returns TASKS."""
    package = importlib.import_module("simreal.sim.tasks")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return TASKS
