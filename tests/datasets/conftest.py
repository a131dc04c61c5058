"""Fixtures: a small real dataset recorded once per session, and private copies to corrupt."""

import shutil

import pytest
from dataset_recording import record_episodes


@pytest.fixture(scope="session")
def recorded(tmp_path_factory):
    """(root, written): a 2-episode dataset with state, front rgb + depth and a point cloud."""
    root = tmp_path_factory.mktemp("recorded") / "ds"
    return root, record_episodes(root)


@pytest.fixture
def dataset_copy(recorded, tmp_path):
    """A private copy of the recorded dataset that a test may corrupt."""
    root = tmp_path / "ds"
    shutil.copytree(recorded[0], root)
    return root
