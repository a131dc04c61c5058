"""`simreal train`: fit a policy to a LeRobot dataset, with checkpoints, EMA, TensorBoard and resume.

    simreal train --policy meanflow --dataset data/pick_place --obs state,pointcloud --out runs/mf

Python API: `train(TrainConfig(...), resume=False) -> TrainResult`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.utils.random_utils import set_seed
from lerobot.utils.utils import cycle

from simreal.datasets import open_dataset, read_simreal_meta, used_seeds
from simreal.datasets.sidecar import sidecar_file
from simreal.errors import UserError
from simreal.training.augment import SceneShift, check_task_allows_shift, scene_image_motion
from simreal.training.checkpoint import (
    CHECKPOINTS,
    TRAINING_STATE,
    TrainingState,
    last_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from simreal.training.config import CONFIG_FILENAME, POLICY_KINDS, PRESETS, TrainConfig
from simreal.training.data import ACTION, TrainingWindows, dataset_stats, make_batch_loader, resolve_obs_keys
from simreal.training.metrics import TrainMetrics
from simreal.training.optim import make_ema, make_optimizer, make_scheduler
from simreal.training.parallel import (
    Rank,
    average_gradients,
    gather_rng_states,
    has_rank_rng_states,
    launch,
    restore_rank_rng_state,
)
from simreal.training.policy_factory import PolicyBundle, build_policy
from simreal.training.validation import Validator, check_validation_dataset

RANK_SEED_STRIDE = 7919  # rank r of a data-parallel run draws its noise from seed + r * stride
VALIDATION_LOG = "validation.jsonl"  # one JSON row per validation: step and the Validator's measures


@dataclass
class TrainResult:
    """What a run produced: its last checkpoint and how training went."""

    run_dir: Path
    checkpoint: Path
    step: int
    losses: list[float] = field(default_factory=list)  # one per step run in this call
    samples_per_s: float = 0.0
    data_wait_fraction: float = 0.0
    step_data_s: list[float] = field(default_factory=list)  # per step: waiting for the batch
    step_update_s: list[float] = field(default_factory=list)  # per step: forward/backward/optimiser
    wall_s: float = 0.0  # this call's
    total_wall_s: float | None = None  # over every sitting of the run (None: resumed from an unclocked one)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    validations: list[dict[str, float]] = field(default_factory=list)  # one per validation in this call


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown --device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


def train(config: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train `config.policy` on `config.dataset`, writing checkpoints under `config.out`.

    With `resume`, continues from RUN/checkpoints/last (weights, EMA, optimiser, scheduler, RNG and
    the data order). A run directory that already holds checkpoints is never overwritten without it.
    With `config.processes` > 1 the batch is split over that many CPU processes (training.parallel).
    """
    run_dir = Path(config.out)
    previous = last_checkpoint(run_dir)
    if resume and previous is None:
        raise UserError(f"--resume: {run_dir} has no checkpoint to resume from")
    if not resume and (run_dir / CHECKPOINTS).exists():
        raise UserError(f"{run_dir} already holds a run: pass --resume or choose another --out")
    device = resolve_device(config.device)
    if config.processes > 1 and device.type != "cpu":
        raise UserError("--processes > 1 splits the batch over CPU processes; on a GPU train in one")
    if resume and not has_rank_rng_states(previous / TRAINING_STATE, config.processes):
        raise UserError(f"--resume: {previous} was not written by a {config.processes}-process run")
    return launch(_train_process, config.processes, config, previous if resume else None, device)


def _train_process(
    rank: Rank, config: TrainConfig, previous: Path | None, device: torch.device
) -> TrainResult:
    """One rank's share of `train`: all of it when training alone."""
    started = time.perf_counter()
    run_dir = Path(config.out)
    set_seed(config.seed)

    dataset = open_dataset(config.dataset)
    obs_keys = resolve_obs_keys(config.obs, dataset.meta.features)
    keys = [*obs_keys, ACTION]
    features = {k: dataset.meta.features[k] for k in keys}
    sidecar = _optional_sidecar(config.dataset)
    shift = None
    if config.shift_augment_m > 0:
        check_task_allows_shift(sidecar.get("task") if sidecar else None)
        shift = SceneShift(config.shift_augment_m, features, scene_image_motion(sidecar, features))
    if config.eval_every > 0 and sidecar is None:
        raise UserError(f"--eval-every needs the dataset's task: {config.dataset} has no meta/simreal.json")
    bundle = build_policy(
        config.policy,
        config.preset,
        features,
        dataset_stats(dataset, keys),
        device,
        dataset.meta.fps,
        config.policy_overrides,
    )
    optimizer = make_optimizer(bundle.policy, config)
    state = TrainingState(
        bundle.policy, optimizer, make_scheduler(optimizer, config), make_ema(bundle.policy, config)
    )
    step = restore_checkpoint(previous, state) if previous is not None else 0
    earlier_sittings_s = state.train_wall_s
    if rank.index > 0:  # the same weights as rank 0, its own noise
        if previous is not None:
            restore_rank_rng_state(previous / TRAINING_STATE, rank)
        else:
            set_seed(config.seed + RANK_SEED_STRIDE * rank.index)

    if rank.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir)
    windows = TrainingWindows(dataset, obs_keys, bundle.obs_deltas, bundle.action_deltas)
    validator = _make_validator(config, dataset, windows, keys, sidecar, bundle) if rank.main else None
    if validator is not None:
        _forget_validations_after(run_dir / VALIDATION_LOG, step)
    loader = make_batch_loader(
        windows,
        batch_size=config.batch_size,
        seed=config.seed,
        drop_n_last_frames=bundle.drop_n_last_frames,
        num_workers=config.num_workers,
        start_step=step,
        rank=rank,
    )
    result = TrainResult(run_dir, previous, step)
    metrics = TrainMetrics(run_dir, step, config.steps, config.log_every, enabled=rank.main)
    batches = cycle(loader)
    params = [p for p in bundle.policy.parameters() if p.requires_grad]
    default_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or max(1, default_threads // rank.world))
    try:
        while step < config.steps:
            batch = next(batches)
            if shift is not None:
                batch = shift(batch)
            metrics.data_ready()
            loss = _update(bundle, batch, state, config.grad_clip_norm, params, rank)
            step += 1
            result.losses.append(loss)
            metrics.step_done(step, loss, optimizer.param_groups[0]["lr"], config.batch_size)
            if step % config.checkpoint_every == 0 or step == config.steps:
                rng_states = gather_rng_states(rank, params) if rank.parallel else None
                if rank.main:
                    state.train_wall_s = _total_wall_s(earlier_sittings_s, started)
                    result.checkpoint = save_checkpoint(
                        run_dir,
                        step,
                        state,
                        config,
                        (bundle.preprocessor, bundle.postprocessor),
                        sidecar,
                        rng_states,
                    )
                metrics.mark()
            if (
                rank.main
                and config.eval_every > 0
                and (step % config.eval_every == 0 or step == config.steps)
            ):
                summary = _evaluate_in_training(bundle, state, sidecar, config, run_dir, step)
                metrics.scalars(step, {"eval/success_rate": summary["success_rate"]})
                result.evaluations.append(summary)
                metrics.mark()
            if validator is not None and (step % config.validate_every == 0 or step == config.steps):
                with _ema_weights(state, params):
                    values = validator(bundle)
                metrics.scalars(step, values)
                row = {"step": step, **values}
                with open(run_dir / VALIDATION_LOG, "a") as log:
                    log.write(json.dumps(row) + "\n")
                result.validations.append(row)
                metrics.mark()
    finally:
        torch.set_num_threads(default_threads)
        metrics.close()
    result.step = step
    result.samples_per_s, result.data_wait_fraction = metrics.throughput()
    result.step_data_s, result.step_update_s = metrics.data_s, metrics.update_s
    result.wall_s = time.perf_counter() - started
    result.total_wall_s = None if earlier_sittings_s is None else earlier_sittings_s + result.wall_s
    return result


def _total_wall_s(earlier_sittings_s: float | None, started: float) -> float | None:
    """The run's training wall time so far: earlier sittings' (None if unknown) plus this one's."""
    return None if earlier_sittings_s is None else earlier_sittings_s + time.perf_counter() - started


def _update(
    bundle: PolicyBundle, batch: dict, state: TrainingState, clip: float, params: list, rank: Rank
) -> float:
    """One optimiser step on `batch` (this rank's slice of it); returns the loss (mean over ranks)."""
    policy = bundle.policy
    policy.train()
    loss, _ = policy.forward(bundle.preprocessor(batch))
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    mean_loss = average_gradients(params, loss, rank)
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    state.optimizer.step()
    state.scheduler.step()
    state.ema.step(params)
    return mean_loss


def _optional_sidecar(root: str) -> dict | None:
    """A dataset's meta/simreal.json, or None for a LeRobot dataset simreal did not record."""
    return read_simreal_meta(root) if sidecar_file(root).is_file() else None


def _make_validator(
    config: TrainConfig,
    dataset: LeRobotDataset,
    windows: TrainingWindows,
    keys: list[str],
    sidecar: dict | None,
    bundle: PolicyBundle,
) -> Validator | None:
    """The held-out validation `config.val_dataset` asks for (None without one)."""
    if not config.val_dataset:
        return None
    val_dataset = open_dataset(config.val_dataset)
    val_sidecar = _optional_sidecar(config.val_dataset)
    check_validation_dataset(
        dataset,
        val_dataset,
        keys,
        used_seeds(sidecar) if sidecar else set(),
        used_seeds(val_sidecar) if val_sidecar else set(),
    )
    val_windows = TrainingWindows(val_dataset, windows.obs_keys, bundle.obs_deltas, bundle.action_deltas)
    action_names = dataset.meta.features[ACTION].get("names")
    return Validator(windows, val_windows, action_names, config.val_windows, config.batch_size)


def _forget_validations_after(log: Path, step: int) -> None:
    """Drop the rows a resumed run will write again (validated after its last checkpoint) and a row a
    crash left half-written; the log is replaced whole, so a crash here loses no row."""
    if log.is_file():
        rows = [line for line in log.read_text().splitlines() if _validated_step(line) <= step]
        partial = log.with_suffix(".jsonl.tmp")
        partial.write_text("".join(f"{row}\n" for row in rows))
        os.replace(partial, log)


def _validated_step(row: str) -> float:
    """The step a validation.jsonl row logged; infinity for a half-written row."""
    try:
        return json.loads(row)["step"]
    except json.JSONDecodeError:
        return math.inf


@contextmanager
def _ema_weights(state: TrainingState, params: list) -> Iterator[None]:
    """The EMA weights (the ones evaluated and deployed) in the policy for the block; the trained
    weights back after it."""
    state.ema.store(params)
    state.ema.copy_to(params)
    try:
        yield
    finally:
        state.ema.restore(params)


def _evaluate_in_training(
    bundle: PolicyBundle, state: TrainingState, sidecar: dict, config: TrainConfig, run_dir: Path, step: int
) -> dict[str, Any]:
    """Roll out the EMA weights in the dataset's task; writes RUN/eval/step_<n>.{json,mp4}."""
    from simreal.evaluate import summarize
    from simreal.policies import PolicyRunner
    from simreal.rollout import (
        DEFAULT_EVAL_SEED_START,
        held_out_seeds,
        make_task_env,
        run_episode,
        write_video,
    )

    params = [p for p in bundle.policy.parameters() if p.requires_grad]
    seeds = held_out_seeds(
        DEFAULT_EVAL_SEED_START, config.eval_episodes, used_seeds(sidecar), skip_demo_seeds=True
    )
    camera = (sidecar.get("observation") or {}).get("cameras", ["front"])[0]
    with _ema_weights(state, params):
        bundle.policy.eval()
        env = make_task_env(sidecar)
        try:
            runner = PolicyRunner(bundle.policy, bundle.preprocessor, bundle.postprocessor)
            episodes = [
                run_episode(env, runner, s, film=camera if i == 0 else None) for i, s in enumerate(seeds)
            ]
        finally:
            env.close()
    out = run_dir / "eval" / f"step_{step:06d}"
    write_video(out.with_suffix(".mp4"), episodes[0].frames, sidecar.get("fps", 20))
    summary = {"step": step, **summarize(episodes)}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    return summary


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        choices=POLICY_KINDS,
        help="policy head to train (lerobot_diffusion = LeRobot's own DiffusionPolicy, for comparison)",
    )
    parser.add_argument("--dataset", help="LeRobot dataset directory (e.g. written by `simreal collect`)")
    parser.add_argument(
        "--obs",
        default="state,pointcloud",
        help="comma-separated observations the policy sees: state, env_state, pointcloud, rgb (all cameras), "
        "a camera name, or full feature names (default: state,pointcloud)",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="run directory: checkpoints/, tensorboard/, eval/ and simreal_train.json go here",
    )
    parser.add_argument(
        "--steps", type=int, help="optimiser steps in total (default 2000; with --resume, extends the run)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="samples per step (default 64)")
    parser.add_argument(
        "--config",
        choices=PRESETS,
        default="small",
        help="model size preset: tiny (tests), small (CPU, default) or paper (the published sizes)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for weights, noise and data order (default 0)"
    )
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate of AdamW (default 1e-4)")
    parser.add_argument(
        "--warmup-steps",
        type=int,
        default=500,
        help="linear warm-up steps before the cosine decay (capped at steps/10; default 500)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=0,
        help="DataLoader worker processes (default 0: load in the training process)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads for the training step (default 0: torch's default, one per core; on "
        "--resume: the run's own); a small network on a few cores can train faster on one",
    )
    parser.add_argument(
        "--processes",
        type=int,
        help="data-parallel CPU processes, each computing the gradient of its share of every batch "
        "(default 1; on --resume: the run's own); with a small network, one one-thread process per core "
        "beats one process using every core",
    )
    parser.add_argument(
        "--shift-augment",
        type=float,
        default=0.0,
        metavar="METRES",
        help="move each training window's scene (point cloud, the state's TCP and the action's x/y) by "
        "a random offset of up to this many metres in the table plane; fixed cameras' images move by "
        "the pixels the offset makes mid-workspace, the wrist camera's stay; needs TCP-pose actions "
        "and a simulated task whose goal is in the scene (pick_place, not push_t) (default 0: off)",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        help="steps between checkpoints (default: a quarter of --steps; the last step is always saved)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from checkpoints/last with its saved config",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="roll the EMA policy out in the dataset's task every K steps (0: never)",
    )
    parser.add_argument(
        "--eval-episodes", type=int, default=10, help="episodes per periodic evaluation (default 10)"
    )
    parser.add_argument(
        "--val-dataset",
        help="a dataset of held-out demos (same features, other episode seeds): every --val-every steps "
        "the EMA policy's loss and planned-action error on it and on as many training windows go to "
        "TensorBoard (val/) and RUN/validation.jsonl, to show over-fitting",
    )
    parser.add_argument(
        "--val-every",
        type=int,
        default=0,
        help="steps between validations (default: at every checkpoint)",
    )
    parser.add_argument(
        "--val-windows",
        type=int,
        default=256,
        help="windows per validation set, evenly spaced over each dataset (default 256)",
    )
    parser.add_argument(
        "--set",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="policy config overrides, VALUE parsed as JSON, e.g. --set horizon=16 n_action_steps=8; "
        "use_amp=true runs image backbones in bfloat16 (1.7x faster training on a CPU with "
        "AVX512-BF16; without, it may be slower)",
    )


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items as a dict: VALUE parsed as JSON where it is JSON (numbers, true, lists),
    else kept as the string it is (--set prediction_type=epsilon)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the command line asks for (on --resume: the run's saved config, updated)."""
    if args.resume:
        saved = Path(args.out) / CONFIG_FILENAME
        if not saved.is_file():
            raise UserError(f"--resume: {saved} not found")
        values = json.loads(saved.read_text())
        values.update(
            device=args.device,
            num_workers=args.num_workers,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
        )
        for option in ("threads", "processes"):  # else the run's own: another count rounds differently
            if getattr(args, option) is not None:
                values[option] = getattr(args, option)
        if args.steps is not None:
            values["steps"] = args.steps
        return TrainConfig(**values)
    if not args.policy or not args.dataset:
        raise UserError("--policy and --dataset are required (unless --resume)")
    return TrainConfig(
        policy=args.policy,
        dataset=args.dataset,
        out=args.out,
        obs=tuple(t for t in args.obs.split(",") if t.strip()),
        preset=args.config,
        steps=args.steps if args.steps is not None else 2000,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        num_workers=args.num_workers,
        threads=args.threads or 0,
        processes=args.processes or 1,
        shift_augment_m=args.shift_augment,
        save_every=args.save_every,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        val_dataset=args.val_dataset,
        val_every=args.val_every,
        val_windows=args.val_windows,
        policy_overrides=parse_overrides(args.set),
    )


def run(args: argparse.Namespace) -> int:
    result = train(config_from_args(args), resume=args.resume)
    print(
        f"trained to step {result.step}: loss {result.losses[-1] if result.losses else float('nan'):.4f}, "
        f"{result.samples_per_s:.0f} samples/s, {100 * result.data_wait_fraction:.0f}% waiting for data; "
        f"checkpoint {result.checkpoint}"
    )
    if result.total_wall_s is not None:
        print(f"  training wall time {result.total_wall_s / 60:.1f} min (every sitting of the run)")
    if result.validations:
        last = result.validations[-1]
        print(
            f"  held-out demos at step {last['step']}: loss {last['val/loss']:.4f} "
            f"(training windows {last['val/train_loss']:.4f}), action error {last['val/action_error']:.4f} "
            f"(training windows {last['val/train_action_error']:.4f})"
        )
    for summary in result.evaluations:
        print(
            f"  step {summary['step']}: success {summary['success_rate']:.2f} "
            f"over {summary['episodes']} episodes"
        )
    return 0
