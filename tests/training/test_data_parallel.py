"""Data-parallel training over CPU processes: the averaged gradient, exact resume, failures, refusals."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from simreal.errors import UserError
from simreal.train import train
from simreal.training.config import TrainConfig
from simreal.training.parallel import Rank, average_gradients, launch

WEIGHTS = ("pretrained_model/model.safetensors", "training_state/raw_model.safetensors")


def _linear_gradient(rank: Rank, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, list]:
    """Each rank's gradient on its slice of the batch, averaged over the ranks."""
    torch.manual_seed(0)
    model = torch.nn.Linear(inputs.shape[1], targets.shape[1])
    loss = torch.nn.functional.mse_loss(
        model(inputs[rank.index :: rank.world]), targets[rank.index :: rank.world]
    )
    loss.backward()
    params = list(model.parameters())
    return average_gradients(params, loss, rank), [p.grad.clone() for p in params]


def _fail_on_rank1(rank: Rank) -> None:
    if rank.index == 1:
        raise ValueError("rank 1 breaks")
    average_gradients([torch.nn.Parameter(torch.zeros(3))], torch.zeros(()), rank)


def test_averaged_slice_gradients_equal_the_full_batch_gradient():
    generator = torch.Generator().manual_seed(1)
    inputs, targets = torch.randn(8, 5, generator=generator), torch.randn(8, 2, generator=generator)
    alone_loss, alone = _linear_gradient(Rank(), inputs, targets)
    pair_loss, pair = launch(_linear_gradient, 2, inputs, targets)
    assert pair_loss == pytest.approx(alone_loss, rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(alone, pair, strict=True))


def test_a_failing_rank_ends_the_run_and_names_itself():
    with pytest.raises(UserError, match="rank1 exited with code 1"):
        launch(_fail_on_rank1, 2)


def pair(dataset, out, **kw) -> TrainConfig:
    values = dict(
        policy="meanflow",
        dataset=str(dataset),
        out=str(out),
        obs=("state", "pointcloud"),
        preset="tiny",
        steps=6,
        batch_size=8,
        device="cpu",
        save_every=2,
        log_every=1,
        threads=1,
        processes=2,
    )
    return TrainConfig(**{**values, **kw})


def test_two_process_run_resumes_exactly(synthetic_pointcloud_dataset, tmp_path):
    run = tmp_path / "run"
    straight = train(pair(synthetic_pointcloud_dataset, run))
    assert straight.step == 6 and len(straight.losses) == 6
    checkpoints = run / "checkpoints"
    assert (checkpoints / "000006" / "training_state" / "rng_state_rank1.safetensors").is_file()
    final = {k: load_file(checkpoints / "000006" / k) for k in WEIGHTS}
    shutil.rmtree(checkpoints / "000006")  # a crash after the step-4 checkpoint
    (checkpoints / "last").unlink()
    (checkpoints / "last").symlink_to("000004")

    resumed = train(pair(synthetic_pointcloud_dataset, run), resume=True)
    assert resumed.losses == pytest.approx(straight.losses[4:], rel=1e-5)
    for kind, weights in final.items():
        again = load_file(checkpoints / "000006" / kind)
        assert all(torch.allclose(weights[k], again[k], atol=1e-6) for k in weights), kind


def test_bad_process_counts_are_refused(synthetic_pointcloud_dataset, tmp_path):
    with pytest.raises(UserError, match="--processes"):
        pair(synthetic_pointcloud_dataset, tmp_path / "a", processes=0)
    with pytest.raises(UserError, match="cannot be split evenly"):
        pair(synthetic_pointcloud_dataset, tmp_path / "b", batch_size=9)
    # A one-process checkpoint holds one RNG state: two processes cannot resume it exactly.
    run = tmp_path / "single"
    train(pair(synthetic_pointcloud_dataset, run, steps=2, processes=1))
    with pytest.raises(UserError, match="not written by a 2-process run"):
        train(pair(synthetic_pointcloud_dataset, run, steps=4), resume=True)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000002", "last"]
