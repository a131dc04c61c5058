"""A small LeRobotDataset written through LeRobot's own API, shared by the training tests.

Actions are a smooth function of the state, so a policy can fit them; the camera image encodes the
state as brightness so image policies see something learnable too.
"""

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

STATE_DIM, ACTION_DIM, IMAGE = 15, 8, (32, 32, 3)


def write_dataset(root, *, episodes=3, length=24, pointcloud=False, seed=0, action_names=None):
    features = {
        "observation.state": {"dtype": "float32", "shape": (STATE_DIM,), "names": None},
        "observation.images.front": {
            "dtype": "video",
            "shape": IMAGE,
            "names": ["height", "width", "channels"],
        },
        "action": {"dtype": "float32", "shape": (ACTION_DIM,), "names": action_names},
    }
    if pointcloud:
        features["observation.pointcloud"] = {"dtype": "float32", "shape": (64, 3), "names": None}
    dataset = LeRobotDataset.create("local/synthetic", fps=20, features=features, root=root, use_videos=True)
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        phase = rng.uniform(0, 2 * np.pi, STATE_DIM)
        for t in range(length):
            state = np.sin(phase + 0.2 * t).astype(np.float32)
            frame = {
                "observation.state": state,
                "observation.images.front": np.full(IMAGE, int(127 + 120 * state[0]), dtype=np.uint8),
                "action": np.sin(phase[:ACTION_DIM] + 0.2 * (t + 1)).astype(np.float32),
                "task": "synthetic",
            }
            if pointcloud:
                frame["observation.pointcloud"] = (state[:3] + 0.01 * rng.normal(size=(64, 3))).astype(
                    np.float32
                )
            dataset.add_frame(frame)
        dataset.save_episode()
    dataset.finalize()
    return root
