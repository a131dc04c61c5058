"""Held-out validation during training: how the policy does on demos it never trains on, next to the
same measures on a fixed set of its own training windows, so over-fitting shows as the curves parting.

Two measures per window set, on the weights being validated (training uses the EMA ones):
- `loss`: the head's training objective, with its noise drawn from one fixed seed at every validation
  (the same draws for both sets and every step, so the numbers compare);
- `action_error`: how far the executed chunk the policy plans (its first n_action_steps actions, as
  at deployment) lies from the demo's, as the mean Euclidean distance of the x/y/z action entries in
  the dataset's units (metres for TCP-pose actions) when the actions name them, else the RMS error
  of the normalized actions over every entry.

The windows are evenly spaced over each dataset's frames and read once; a validation dataset must
hold the features the policy reads, with the same shapes, and none of the training demos' seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from torch import Tensor

from simreal.errors import UserError
from simreal.training.data import ACTION, TrainingWindows

NOISE_SEED = 20261206  # every validation draws its noise from this seed
POSITION_NAMES = ("x", "y", "z")


def check_validation_dataset(
    train: LeRobotDataset,
    val: LeRobotDataset,
    keys: Sequence[str],
    train_seeds: set[int],
    val_seeds: set[int],
) -> None:
    """UserError naming what makes `val` unusable to validate a policy trained on `train`'s `keys`."""
    missing = [k for k in keys if k not in val.meta.features]
    if missing:
        raise UserError(f"--val-dataset lacks features the policy reads: {', '.join(missing)}")
    differ = [
        f"{k} {tuple(val.meta.features[k]['shape'])} (training: {tuple(train.meta.features[k]['shape'])})"
        for k in keys
        if tuple(val.meta.features[k]["shape"]) != tuple(train.meta.features[k]["shape"])
    ]
    if differ:
        raise UserError(f"--val-dataset's features differ in shape: {'; '.join(differ)}")
    shared = train_seeds & val_seeds
    if shared:
        raise UserError(
            f"--val-dataset holds {len(shared)} of the training demos' episode seeds (e.g. {min(shared)}): "
            "held-out demos must be other episodes (collect them with another --seed)"
        )


def fixed_windows(windows: TrainingWindows, count: int, batch_size: int) -> list[dict[str, Tensor]]:
    """Raw batches of `count` windows evenly spaced over the dataset's frames (all of them if fewer)."""
    picked = np.unique(
        np.linspace(0, len(windows) - 1, num=min(count, len(windows))).round().astype(np.int64)
    )
    return [windows[picked[i : i + batch_size].tolist()] for i in range(0, len(picked), batch_size)]


class Validator:
    """Measures a policy on fixed training windows and on held-out ones: `validator(bundle)` -> scalars
    named `val/<measure>` (held out) and `val/train_<measure>` (training windows)."""

    def __init__(
        self,
        train_windows: TrainingWindows,
        val_windows: TrainingWindows,
        action_names: Sequence[str] | None,
        count: int,
        batch_size: int,
    ) -> None:
        self.sets = {
            "val/": fixed_windows(val_windows, count, batch_size),
            "val/train_": fixed_windows(train_windows, count, batch_size),
        }
        names = list(action_names or ())
        self.position = (
            [names.index(n) for n in POSITION_NAMES] if set(POSITION_NAMES) <= set(names) else None
        )

    def __call__(self, bundle) -> dict[str, float]:
        policy = bundle.policy
        was_training = policy.training
        policy.eval()
        values = {}
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                for prefix, batches in self.sets.items():
                    torch.manual_seed(NOISE_SEED)
                    loss, error = self._measure(bundle, batches)
                    values[f"{prefix}loss"] = loss
                    values[f"{prefix}action_error"] = error
        finally:
            policy.reset()
            policy.train(was_training)
        return values

    def _measure(self, bundle, batches: list[dict[str, Tensor]]) -> tuple[float, float]:
        policy, config = bundle.policy, bundle.policy.config
        first, steps = config.n_obs_steps - 1, config.n_action_steps
        losses, errors, counts = [], [], []
        for raw in batches:
            batch = bundle.preprocessor(raw)
            per_sample, _ = policy.forward(batch, reduction="none")
            losses.append(per_sample.cpu())
            policy.reset()  # a fresh plan per batch (the streaming head keeps a buffer between calls)
            planned = policy.plan_actions({k: batch[k] for k in config.input_features})[:, :steps]
            valid = ~raw[f"{ACTION}_is_pad"][:, first : first + steps]
            if self.position is not None:
                demo = raw[ACTION][:, first : first + steps, self.position]
                predicted = bundle.postprocessor(planned).cpu()[..., self.position]
                per_step = (predicted - demo).norm(dim=-1)
            else:
                demo = batch[ACTION][:, first : first + steps].cpu()
                per_step = (planned.cpu() - demo).pow(2).mean(dim=-1)
            errors.append(per_step[valid].sum())
            counts.append(valid.sum())
        error = torch.stack(errors).sum() / torch.stack(counts).sum().clamp_min(1)
        if self.position is None:
            error = error.sqrt()
        return torch.cat(losses).mean().item(), error.item()
