"""Headless rendering for every sim test, set before any test module imports mujoco."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
