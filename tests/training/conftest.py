"""Fixtures shared by the training tests: small datasets written through LeRobot's own API
(training_test_data)."""

import pytest
from training_test_data import write_dataset


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    """3 episodes x 24 frames: state, a 32x32 front camera and actions (no point cloud)."""
    return write_dataset(tmp_path_factory.mktemp("data") / "synthetic")


@pytest.fixture(scope="session")
def synthetic_pointcloud_dataset(tmp_path_factory):
    """Like `synthetic_dataset` plus a 64-point cloud."""
    return write_dataset(tmp_path_factory.mktemp("data") / "synthetic_pc", pointcloud=True)
