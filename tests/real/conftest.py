"""Fixtures for tests that start rclpy nodes (see ros_harness.py)."""

import os

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture
def ros():
    """An initialised rclpy context on a private domain, spinning; torn down after the test."""
    from ros_harness import Ros

    handle = Ros()
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def ros_module():
    """Like ``ros`` but shared by a module's tests (for one expensive process under test)."""
    from ros_harness import Ros

    handle = Ros()
    yield handle
    handle.close()
