"""Checkpoints in LeRobot's layout, plus what EMA training needs to resume.

    RUN/checkpoints/<step>/pretrained_model/   config.json, model.safetensors (EMA weights, the ones
                                               to deploy), policy_{pre,post}processor*.{json,safetensors},
                                               simreal_train.json, simreal_dataset.json
    RUN/checkpoints/<step>/training_state/     LeRobot's optimizer/scheduler/rng/step files, plus
                                               raw_model.safetensors (the non-EMA weights),
                                               ema_state.json and train_clock.json (the training
                                               wall time to this step, over every sitting)
    RUN/checkpoints/last -> <step>

A checkpoint is written into `<step>.partial` and renamed when complete, then `last` moves: an
interrupted save never leaves `last` pointing at half a checkpoint. Everything is safetensors/JSON.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers.training_utils import EMAModel
from lerobot.common.train_utils import get_step_identifier, load_training_state, save_training_state
from safetensors.torch import load_model, save_model

from simreal.errors import UserError
from simreal.training.config import TrainConfig
from simreal.training.parallel import save_rank_rng_states

CHECKPOINTS = "checkpoints"
LAST = "last"
PRETRAINED = "pretrained_model"
TRAINING_STATE = "training_state"
RAW_WEIGHTS = "raw_model.safetensors"
EMA_STATE = "ema_state.json"
TRAIN_CLOCK = "train_clock.json"
DATASET_META = "simreal_dataset.json"


@dataclass
class TrainingState:
    """The mutable objects a checkpoint restores."""

    policy: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    ema: EMAModel
    # Training wall time to the current step over every sitting; None when resumed from a checkpoint
    # written before the clock was recorded.
    train_wall_s: float | None = 0.0


def save_checkpoint(
    run_dir: Path,
    step: int,
    state: TrainingState,
    config: TrainConfig,
    processors: tuple[Any, Any],
    dataset_meta: dict | None,
    rank_rng_states: Sequence[dict[str, torch.Tensor]] | None = None,
) -> Path:
    """Write the checkpoint of `step` and point `last` at it; returns the checkpoint directory.

    `rank_rng_states`: every rank's RNG state in a data-parallel run (rank 0's, this process's, is
    LeRobot's rng_state file; the others go beside it)."""
    root = Path(run_dir) / CHECKPOINTS
    final = root / get_step_identifier(step, config.steps)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    training_dir = partial / TRAINING_STATE
    training_dir.mkdir(parents=True)
    save_model(state.policy, str(training_dir / RAW_WEIGHTS))
    (training_dir / EMA_STATE).write_text(json.dumps({"optimization_step": state.ema.optimization_step}))
    (training_dir / TRAIN_CLOCK).write_text(json.dumps({"train_wall_s": state.train_wall_s}))
    save_training_state(
        partial,
        step,
        state.optimizer,
        state.scheduler,
        num_processes=config.processes,
        batch_size=config.batch_size // config.processes,  # per process, as LeRobot records it
    )
    if rank_rng_states is not None:
        save_rank_rng_states(training_dir, rank_rng_states)

    pretrained = partial / PRETRAINED
    params = _trainable(state.policy)
    state.ema.store(params)
    state.ema.copy_to(params)
    try:
        state.policy.save_pretrained(pretrained)
    finally:
        state.ema.restore(params)
    for processor in processors:
        processor.save_pretrained(pretrained)
    config.save(pretrained)
    if dataset_meta is not None:
        (pretrained / DATASET_META).write_text(json.dumps(dataset_meta, indent=2))

    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    link = root / LAST
    tmp_link = root / (LAST + ".tmp")
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(final.name)
    os.replace(tmp_link, link)
    return final


def last_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint `RUN/checkpoints/last` points at, or None when the run has none."""
    link = Path(run_dir) / CHECKPOINTS / LAST
    return link.resolve() if link.exists() else None


def restore_checkpoint(checkpoint_dir: Path, state: TrainingState) -> int:
    """Load weights, EMA, optimiser, scheduler, RNG state and the training clock in place; returns the
    step reached."""
    checkpoint_dir = Path(checkpoint_dir)
    training_dir = checkpoint_dir / TRAINING_STATE
    if not (training_dir / RAW_WEIGHTS).is_file():
        raise UserError(f"{checkpoint_dir} has no {TRAINING_STATE}/{RAW_WEIGHTS}: cannot resume from it")
    params = _trainable(state.policy)
    # The EMA shadow is the deployed weights; load them through the model, then the raw weights.
    load_model(state.policy, str(checkpoint_dir / PRETRAINED / "model.safetensors"))
    with torch.no_grad():
        for shadow, param in zip(state.ema.shadow_params, params, strict=True):
            shadow.copy_(param)
    state.ema.optimization_step = json.loads((training_dir / EMA_STATE).read_text())["optimization_step"]
    load_model(state.policy, str(training_dir / RAW_WEIGHTS))
    step, _, _ = load_training_state(checkpoint_dir, state.optimizer, state.scheduler)
    state.train_wall_s = recorded_train_wall_s(checkpoint_dir)
    return step


def recorded_train_wall_s(checkpoint_dir: Path) -> float | None:
    """The training wall time to `checkpoint_dir`'s step over every sitting (time spent after the last
    checkpoint of an interrupted sitting is not in it); None for a checkpoint that did not record it."""
    clock = Path(checkpoint_dir) / TRAINING_STATE / TRAIN_CLOCK
    return json.loads(clock.read_text())["train_wall_s"] if clock.is_file() else None


def resolve_pretrained_dir(path: str | Path) -> Path:
    """Accept a run directory, a checkpoint directory or a pretrained_model directory."""
    path = Path(path)
    for candidate in (path, path / PRETRAINED, path / CHECKPOINTS / LAST / PRETRAINED):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate.resolve()
    raise UserError(f"{path} holds no checkpoint (looked for config.json + model.safetensors)")


def _trainable(policy: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in policy.parameters() if p.requires_grad]
