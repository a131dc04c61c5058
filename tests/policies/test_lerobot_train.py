"""`lerobot-train --policy.type=simreal_meanflow` runs offline on a simreal-schema dataset through the
lerobot_policy_simreal plugin, and its checkpoint loads with simreal's load_policy."""

import importlib.metadata
import shutil

import numpy as np
import pytest
import torch
from policy_test_data import LEROBOT_TRAIN, raw_observation, run_lerobot_train
from safetensors.torch import load_file

from simreal.policies import load_policy


@pytest.mark.skipif(not LEROBOT_TRAIN.exists(), reason="lerobot-train is not installed")
def test_lerobot_train_smoke(tiny_dataset, tmp_path):
    try:
        importlib.metadata.distribution("lerobot_policy_simreal")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the LeRobot plugin is not installed: pip install -e ./lerobot_policy_simreal")
    out = tmp_path / "run"
    ckpt = run_lerobot_train(
        out,
        tiny_dataset.root,
        "--policy.type=simreal_meanflow",
        "--policy.down_dims=[16,32]",
        "--policy.step_embed_dim=16",
        "--policy.obs_embed_dim=16",
        steps=3,
    )
    assert (ckpt / "model.safetensors").is_file(), sorted(p.name for p in out.rglob("*"))
    runner = load_policy(
        ckpt, device="cpu", features=tiny_dataset.meta.features, stats=tiny_dataset.meta.stats
    )
    assert runner.config.type == "simreal_meanflow"
    action = runner(raw_observation(tiny_dataset, 0, runner.input_features))
    assert action.shape == (8,) and np.isfinite(action).all()
    shutil.rmtree(out)


@pytest.mark.skipif(not LEROBOT_TRAIN.exists(), reason="lerobot-train is not installed")
def test_lerobot_train_with_use_amp_trains_an_image_meanflow_policy(tiny_image_dataset, tmp_path):
    """`--policy.use_amp=true` makes lerobot-train run the whole forward pass under Accelerate's
    bfloat16 autocast on CPU, MeanFlow's d/dt u included; the weights must stay finite and the flag
    must survive loading, so that inference runs the backbones as training did."""
    out = tmp_path / "run"
    ckpt = run_lerobot_train(
        out,
        tiny_image_dataset.root,
        "--policy.type=simreal_meanflow",
        "--policy.down_dims=[16,32]",
        "--policy.step_embed_dim=16",
        "--policy.obs_embed_dim=16",
        "--policy.use_amp=true",
        # LeRobot replaces the cameras' statistics with ImageNet's by default; the dataset's own are
        # what load_policy is asked to match below.
        "--dataset.use_imagenet_stats=false",
        steps=2,
    )
    weights = load_file(ckpt / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    runner = load_policy(
        ckpt, device="cpu", features=tiny_image_dataset.meta.features, stats=tiny_image_dataset.meta.stats
    )
    assert runner.config.use_amp
    action = runner(raw_observation(tiny_image_dataset, 0, runner.input_features))
    assert action.shape == (8,) and np.isfinite(action).all()
    shutil.rmtree(out)
