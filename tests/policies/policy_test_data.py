"""Tiny simreal-schema LeRobot datasets (written with LeRobot's own API), tiny policy settings, and
helpers to read training windows and raw observations from them, and to run `lerobot-train`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from lerobot.datasets import LeRobotDataset

LEROBOT_TRAIN = Path(sys.executable).with_name("lerobot-train")

FPS = 20
STATE_DIM, ACTION_DIM, NUM_POINTS = 15, 8, 32
# U-Net and encoders small enough to train a few steps in seconds on 2 shared cores.
TINY = {"down_dims": (16, 32), "step_embed_dim": 16, "obs_embed_dim": 16, "device": "cpu"}
TINY_HEADS = {
    "diffusion": {"horizon": 8, "n_action_steps": 4, "num_train_timesteps": 20},
    "meanflow": {"horizon": 4, "n_action_steps": 3},
    "streaming": {"horizon": 8, "n_action_steps": 3, "num_train_timesteps": 20},
}


def write_dataset(
    root, *, images: bool, episodes: int = 2, frames: int = 24, seed: int = 0
) -> LeRobotDataset:
    """A dataset with the simreal feature names: state (15,), point cloud (32, 3), optional 16x16
    front camera, joint_pos action (8,) that depends on the state (so it is learnable)."""
    features = {
        "observation.state": {"dtype": "float32", "shape": (STATE_DIM,), "names": None},
        "observation.pointcloud": {"dtype": "float32", "shape": (NUM_POINTS, 3), "names": None},
        "action": {"dtype": "float32", "shape": (ACTION_DIM,), "names": None},
    }
    if images:
        features["observation.images.front"] = {
            "dtype": "image",
            "shape": (16, 16, 3),
            "names": ["height", "width", "channels"],
        }
    ds = LeRobotDataset.create(repo_id="local/tiny", fps=FPS, features=features, root=root, use_videos=False)
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        state = rng.normal(size=STATE_DIM).astype(np.float32)
        for _ in range(frames):
            state = (state + 0.1 * rng.normal(size=STATE_DIM)).astype(np.float32)
            frame = {
                "observation.state": state,
                "observation.pointcloud": rng.uniform(-0.5, 0.5, (NUM_POINTS, 3)).astype(np.float32),
                "action": np.tanh(state[:ACTION_DIM]).astype(np.float32),
                "task": "push the T",
            }
            if images:
                frame["observation.images.front"] = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    return LeRobotDataset("local/tiny", root=root)


def training_batch(dataset: LeRobotDataset, config, preprocessor, batch_size: int = 8, seed: int = 0):
    """One normalized batch of windows (T_o observations, horizon actions) read through LeRobot."""
    fps = dataset.meta.fps
    delta = {k: [i / fps for i in config.observation_delta_indices] for k in config.input_features}
    delta["action"] = [i / fps for i in config.action_delta_indices]
    windows = LeRobotDataset(dataset.repo_id, root=dataset.root, delta_timestamps=delta)
    loader = torch.utils.data.DataLoader(
        windows, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    return preprocessor(next(iter(loader)))


def raw_observation(dataset: LeRobotDataset, index: int, keys) -> dict[str, np.ndarray]:
    """A frame as the env produces it: numpy, no batch dim, images uint8 (H, W, 3)."""
    frame = dataset[index]
    obs = {}
    for key in keys:
        value = frame[key].numpy()
        if key.startswith("observation.images."):
            value = (np.transpose(value, (1, 2, 0)) * 255).round().astype(np.uint8)
        obs[key] = value
    return obs


def run_lerobot_train(out: Path, dataset_root: Path, *policy_args: str, steps: int) -> Path:
    """LeRobot's own `lerobot-train` with `policy_args` on the dataset at `dataset_root`, offline on
    CPU, batch 4, `steps` steps into `out`; returns the last checkpoint's pretrained_model folder."""
    if not LEROBOT_TRAIN.exists():
        pytest.skip("lerobot-train is not installed")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [
        str(LEROBOT_TRAIN),
        *policy_args,
        "--policy.push_to_hub=false",
        "--policy.device=cpu",
        f"--dataset.repo_id=local/{Path(dataset_root).name}",
        f"--dataset.root={dataset_root}",
        f"--output_dir={out}",
        f"--steps={steps}",
        "--batch_size=4",
        "--num_workers=0",
        "--log_freq=1",
        f"--save_freq={steps}",
        "--wandb.enable=false",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "checkpoints" / "last" / "pretrained_model"
