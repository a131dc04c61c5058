"""`lerobot-train --policy.type=simreal_meanflow` runs offline on a simreal-schema dataset through the
lerobot_policy_simreal plugin, and its checkpoint loads with simreal's load_policy."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from policy_test_data import raw_observation

from simreal.policies import load_policy

LEROBOT_TRAIN = Path(sys.executable).with_name("lerobot-train")


@pytest.mark.skipif(not LEROBOT_TRAIN.exists(), reason="lerobot-train is not installed")
def test_lerobot_train_smoke(tiny_dataset, tmp_path):
    try:
        importlib.metadata.distribution("lerobot_policy_simreal")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the LeRobot plugin is not installed: pip install -e ./lerobot_policy_simreal")
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [
        str(LEROBOT_TRAIN),
        "--policy.type=simreal_meanflow",
        "--policy.push_to_hub=false",
        "--policy.device=cpu",
        "--policy.down_dims=[16,32]",
        "--policy.step_embed_dim=16",
        "--policy.obs_embed_dim=16",
        "--dataset.repo_id=local/tiny",
        f"--dataset.root={tiny_dataset.root}",
        f"--output_dir={out}",
        "--steps=3",
        "--batch_size=4",
        "--num_workers=0",
        "--log_freq=1",
        "--save_freq=3",
        "--wandb.enable=false",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = out / "checkpoints" / "last" / "pretrained_model"
    assert (ckpt / "model.safetensors").is_file(), sorted(p.name for p in out.rglob("*"))
    runner = load_policy(
        ckpt, device="cpu", features=tiny_dataset.meta.features, stats=tiny_dataset.meta.stats
    )
    assert runner.config.type == "simreal_meanflow"
    action = runner(raw_observation(tiny_dataset, 0, runner.input_features))
    assert action.shape == (8,) and np.isfinite(action).all()
    shutil.rmtree(out)
