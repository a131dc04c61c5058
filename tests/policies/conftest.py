"""Session fixtures: the tiny datasets of policy_test_data."""

import pytest
import torch
from lerobot.datasets import LeRobotDataset
from policy_test_data import write_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> LeRobotDataset:
    """State + point cloud dataset (no camera)."""
    return write_dataset(tmp_path_factory.mktemp("tiny_ds") / "ds", images=False)


@pytest.fixture(scope="session")
def tiny_image_dataset(tmp_path_factory) -> LeRobotDataset:
    return write_dataset(tmp_path_factory.mktemp("tiny_img_ds") / "ds", images=True, episodes=1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks run fastest on one thread; two threads on a busy 2-core machine thrash."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
