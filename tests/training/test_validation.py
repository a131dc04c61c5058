"""Held-out validation in training: its log, its pairing of held-out and training windows, refusals."""

import json
import shutil

import numpy as np
import pytest
import torch
from training_test_data import ACTION_DIM, write_dataset

from simreal.errors import UserError
from simreal.train import train
from simreal.training.config import TrainConfig
from simreal.training.data import TrainingWindows
from simreal.training.validation import Validator, check_validation_dataset

POSE_NAMES = ["x", "y", "z", "qw", "qx", "qy", "qz", "gripper"]


def config(dataset, out, val_dataset, **kw):
    """A tiny 4-step run validated on `val_dataset` (None: not validated) at steps 2 and 4."""
    values = dict(
        policy="diffusion",
        dataset=str(dataset),
        out=str(out),
        obs=("state", "pointcloud"),
        preset="tiny",
        steps=4,
        batch_size=8,
        device="cpu",
        val_dataset=str(val_dataset) if val_dataset else None,
        val_every=2,
        val_windows=20,
    )
    return TrainConfig(**{**values, **kw})


@pytest.fixture(scope="module")
def held_out_pointcloud_dataset(tmp_path_factory):
    """Two other episodes (another seed) with the same features as `synthetic_pointcloud_dataset`."""
    return write_dataset(tmp_path_factory.mktemp("held_out") / "d", episodes=2, pointcloud=True, seed=1)


@pytest.mark.parametrize("head", ["diffusion", "meanflow", "streaming"])
def test_every_head_logs_held_out_and_training_measures(
    head, synthetic_pointcloud_dataset, held_out_pointcloud_dataset, tmp_path
):
    result = train(config(synthetic_pointcloud_dataset, tmp_path, held_out_pointcloud_dataset, policy=head))
    rows = [json.loads(line) for line in (tmp_path / "validation.jsonl").read_text().splitlines()]
    assert rows == result.validations and [r["step"] for r in rows] == [2, 4]
    for row in rows:
        assert set(row) == {
            "step",
            "val/loss",
            "val/train_loss",
            "val/action_error",
            "val/train_action_error",
        }
        assert all(np.isfinite(v) and v >= 0 for v in row.values())


def test_the_same_windows_measure_the_same_and_repeat_exactly(synthetic_pointcloud_dataset, tmp_path):
    """Validating on the training data itself gives the training-window numbers exactly: both sets draw
    the same noise, so the held-out and training curves differ only by their data."""
    from simreal.training.policy_factory import build_policy

    result = train(config(synthetic_pointcloud_dataset, tmp_path, synthetic_pointcloud_dataset, steps=2))
    (row,) = result.validations
    assert (
        row["val/loss"] == row["val/train_loss"] and row["val/action_error"] == row["val/train_action_error"]
    )
    torch.manual_seed(0)
    bundle, windows = _bundle(synthetic_pointcloud_dataset, build_policy)
    validator = Validator(windows, windows, None, count=20, batch_size=8)
    before = torch.get_rng_state()
    assert validator(bundle) == validator(bundle)
    assert torch.equal(torch.get_rng_state(), before)  # training's own random stream is untouched
    assert bundle.policy.training


def test_action_error_is_in_the_actions_units_when_they_name_x_y_z(tmp_path):
    from simreal.training.policy_factory import build_policy

    named = write_dataset(tmp_path / "named", pointcloud=True, action_names=POSE_NAMES)
    bundle, windows = _bundle(named, build_policy)
    validator = Validator(windows, windows, POSE_NAMES, count=16, batch_size=8)
    assert validator.position == [0, 1, 2]
    planned = []
    bundle.policy.plan_actions = lambda history: (
        planned.append(1)
        or torch.zeros(len(history["observation.state"]), bundle.policy.config.horizon, ACTION_DIM)
    )
    values = validator(bundle)
    assert planned
    # a plan of zeros (normalized) is the actions' mid-range; the error is the distance to the demo's x/y/z
    middle = bundle.postprocessor(torch.zeros(1, 1, ACTION_DIM))[0, 0, :3].numpy()
    first = bundle.policy.config.n_obs_steps - 1
    steps = bundle.policy.config.n_action_steps
    expected = []
    for batch in validator.sets["val/"]:
        demo = batch["action"][:, first : first + steps, :3].numpy()
        valid = ~batch["action_is_pad"][:, first : first + steps].numpy()
        expected.append(np.linalg.norm(demo - middle, axis=-1)[valid])
    assert values["val/action_error"] == pytest.approx(np.concatenate(expected).mean(), rel=1e-5)


def test_unusable_validation_datasets_are_refused(
    synthetic_dataset, synthetic_pointcloud_dataset, tmp_path, monkeypatch
):
    with pytest.raises(UserError, match="lacks features the policy reads: observation.pointcloud"):
        train(config(synthetic_pointcloud_dataset, tmp_path / "a", synthetic_dataset))
    assert not (tmp_path / "a" / "checkpoints").exists()
    from simreal.datasets import open_dataset

    train_set, other = open_dataset(synthetic_pointcloud_dataset), open_dataset(synthetic_pointcloud_dataset)
    monkeypatch.setitem(other.meta.features["observation.state"], "shape", (3,))
    keys = ["observation.state", "observation.pointcloud", "action"]
    with pytest.raises(UserError, match=r"differ in shape: observation.state \(3,\)"):
        check_validation_dataset(train_set, other, keys, set(), set())
    with pytest.raises(UserError, match="holds 1 of the training demos' episode seeds"):
        check_validation_dataset(train_set, train_set, keys, {1, 2}, {2, 3})
    with pytest.raises(UserError, match="simreal's heads"):
        config(synthetic_dataset, tmp_path / "b", synthetic_dataset, policy="lerobot_diffusion")


def _bundle(dataset_dir, build_policy):
    from simreal.datasets import open_dataset
    from simreal.training.data import dataset_stats

    dataset = open_dataset(dataset_dir)
    keys = ["observation.state", "observation.pointcloud", "action"]
    features = {k: dataset.meta.features[k] for k in keys}
    bundle = build_policy(
        "diffusion", "tiny", features, dataset_stats(dataset, keys), torch.device("cpu"), dataset.meta.fps, {}
    )
    windows = TrainingWindows(dataset, keys[:2], bundle.obs_deltas, bundle.action_deltas)
    return bundle, windows


def test_a_run_learns_the_same_with_or_without_validation(
    synthetic_pointcloud_dataset, held_out_pointcloud_dataset, tmp_path
):
    validated = train(config(synthetic_pointcloud_dataset, tmp_path / "a", held_out_pointcloud_dataset))
    plain = train(config(synthetic_pointcloud_dataset, tmp_path / "b", None))
    assert validated.validations and not plain.validations
    assert validated.losses == plain.losses


@pytest.mark.parametrize("crashed_mid_row", [False, True])
def test_a_resumed_run_validates_each_step_once(
    synthetic_pointcloud_dataset, held_out_pointcloud_dataset, tmp_path, crashed_mid_row
):
    """A run that stopped after validating past its last checkpoint logs those steps again on resume,
    once: the rows after the checkpoint are dropped first, and so is half a row left by a crash while
    writing it."""
    first = config(
        synthetic_pointcloud_dataset, tmp_path, held_out_pointcloud_dataset, val_every=1, save_every=2
    )
    train(first)
    log = tmp_path / "validation.jsonl"
    lines = log.read_text().splitlines()
    if crashed_mid_row:  # the crash came while it wrote step 3's row
        log.write_text(f"{lines[0]}\n{lines[1]}\n{lines[2][: len(lines[2]) // 2]}")
    shutil.rmtree(tmp_path / "checkpoints" / "000004")  # as if it stopped after validating steps 3 and 4
    (tmp_path / "checkpoints" / "last").unlink()
    (tmp_path / "checkpoints" / "last").symlink_to("000002")
    train(first, resume=True)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert log.read_text().splitlines()[:2] == lines[:2]
    assert not log.with_suffix(".jsonl.tmp").exists()
