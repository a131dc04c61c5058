"""A tiny training run end to end: checkpoints, resume, over-fitting, refusals."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from simreal.errors import UserError
from simreal.policies import load_policy
from simreal.train import train
from simreal.training.checkpoint import recorded_train_wall_s
from simreal.training.config import TrainConfig

WEIGHTS = ("pretrained_model/model.safetensors", "training_state/raw_model.safetensors")


def tiny(dataset, out, **kw):
    values = dict(
        policy="lerobot_diffusion",
        dataset=str(dataset),
        out=str(out),
        obs=("state", "rgb"),
        preset="tiny",
        steps=4,
        batch_size=8,
        device="cpu",
        save_every=2,
        log_every=1,
    )
    return TrainConfig(**{**values, **kw})


def test_checkpoint_layout_and_loading(synthetic_dataset, tmp_path):
    result = train(tiny(synthetic_dataset, tmp_path / "run"))
    assert result.step == 4 and len(result.losses) == 4
    last = tmp_path / "run" / "checkpoints" / "last"
    assert last.is_symlink() and last.resolve().name == "000004"
    pretrained = last / "pretrained_model"
    for name in (
        "config.json",
        "model.safetensors",
        "policy_preprocessor.json",
        "policy_postprocessor.json",
        "simreal_train.json",
    ):
        assert (pretrained / name).is_file(), name
    for name in (
        "optimizer_state.safetensors",
        "scheduler_state.json",
        "rng_state.safetensors",
        "training_step.json",
        "raw_model.safetensors",
        "ema_state.json",
        "train_clock.json",
    ):
        assert (last / "training_state" / name).is_file(), name
    assert json.loads((tmp_path / "run" / "simreal_train.json").read_text())["steps"] == 4
    assert not list(tmp_path.glob("run/checkpoints/*.partial"))

    runner = load_policy(pretrained)
    runner.reset()
    action = runner(
        {
            "observation.state": np.zeros(15, np.float32),
            "observation.images.front": np.zeros((32, 32, 3), np.uint8),
        }
    )
    assert action.shape == (8,) and np.isfinite(action).all()


def test_resume_continues_exactly_where_the_run_stopped(synthetic_dataset, tmp_path):
    run = tmp_path / "run"
    straight = train(tiny(synthetic_dataset, run, steps=6))
    checkpoints = run / "checkpoints"
    final = {k: load_file(checkpoints / "000006" / k) for k in WEIGHTS}
    # Simulate a crash after the step-4 checkpoint: the step-6 one never happened.
    shutil.rmtree(checkpoints / "000006")
    (checkpoints / "last").unlink()
    (checkpoints / "last").symlink_to("000004")

    resumed = train(tiny(synthetic_dataset, run, steps=6), resume=True)
    assert resumed.step == 6 and len(resumed.losses) == 2
    assert resumed.losses == pytest.approx(straight.losses[4:], rel=1e-5)
    for kind, weights in final.items():
        again = load_file(checkpoints / "000006" / kind)
        assert all(torch.allclose(weights[k], again[k], atol=1e-6) for k in weights), kind


def test_a_resumed_run_counts_the_training_time_of_every_sitting(synthetic_dataset, tmp_path):
    run = tmp_path / "run"
    first = train(tiny(synthetic_dataset, run, steps=4))
    first_s = recorded_train_wall_s(first.checkpoint)
    assert 0 < first_s <= first.wall_s <= first.total_wall_s

    second = train(tiny(synthetic_dataset, run, steps=6), resume=True)
    assert first_s + second.wall_s <= second.total_wall_s < first_s + second.wall_s + 1
    assert recorded_train_wall_s(second.checkpoint) == pytest.approx(second.total_wall_s, abs=1)

    # A checkpoint written before the clock was recorded: the run's total is unknown, not understated.
    (second.checkpoint / "training_state" / "train_clock.json").unlink()
    assert recorded_train_wall_s(second.checkpoint) is None
    third = train(tiny(synthetic_dataset, run, steps=8), resume=True)
    assert third.total_wall_s is None and recorded_train_wall_s(third.checkpoint) is None


def test_loss_decreases_when_overfitting(synthetic_dataset, tmp_path):
    # Predicting the clean sample (not the noise) makes the drop visible within a few dozen steps.
    config = tiny(
        synthetic_dataset,
        tmp_path / "fit",
        steps=80,
        batch_size=16,
        lr=1e-3,
        save_every=80,
        policy_overrides={"prediction_type": "sample"},
    )
    losses = train(config).losses
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.7 * first, (first, last)


def test_missing_features_are_refused_and_nothing_is_written(synthetic_dataset, tmp_path):
    with pytest.raises(UserError, match="observation.pointcloud"):
        train(tiny(synthetic_dataset, tmp_path / "run", obs=("state", "pointcloud")))
    assert not (tmp_path / "run").exists()


def test_training_runs_on_the_threads_asked_for_and_restores_the_count(
    synthetic_dataset, tmp_path, monkeypatch
):
    import torch

    import simreal.train as train_module

    seen = []
    update = train_module._update
    monkeypatch.setattr(
        train_module, "_update", lambda *a: seen.append(torch.get_num_threads()) or update(*a)
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(tiny(synthetic_dataset, tmp_path / "run", threads=1))
        assert seen == [1] * 4 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(UserError, match="--threads"):
        tiny(synthetic_dataset, tmp_path / "other", threads=-1)


def test_existing_run_is_not_overwritten(synthetic_dataset, tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(UserError, match="--resume"):
        train(tiny(synthetic_dataset, tmp_path / "run"))
    with pytest.raises(UserError, match="no checkpoint"):
        train(tiny(synthetic_dataset, tmp_path / "other"), resume=True)


@pytest.mark.parametrize("head", ["diffusion", "meanflow", "streaming"])
def test_every_simreal_head_trains_and_loads(head, synthetic_pointcloud_dataset, tmp_path):
    config = tiny(
        synthetic_pointcloud_dataset, tmp_path / head, policy=head, obs=("state", "pointcloud"), steps=2
    )
    result = train(config)
    assert len(result.losses) == 2 and np.isfinite(result.losses).all()
    runner = load_policy(tmp_path / head / "checkpoints" / "last" / "pretrained_model")
    runner.reset()
    observation = {
        "observation.state": np.zeros(15, np.float32),
        "observation.pointcloud": np.zeros((64, 3), np.float32),
    }
    action = runner(observation)
    assert action.shape == (8,) and np.isfinite(action).all()
