"""`simreal demo` (what `make demo` runs): the pipeline end to end on the default task, step by step.

Each step is a function `(args, run) -> StepResult` in `STEPS`, run in order; a step reads what
earlier steps left in `run.outputs`. Today: collect a small dataset with the scripted expert,
validate it, replay an episode (determinism check + video). Training and evaluation steps are
appended to `STEPS` by the issues that add them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simreal.errors import UserError


@dataclass
class DemoRun:
    """State shared by the steps: the run directory and what each step produced."""

    root: Path
    outputs: dict[str, object] = field(default_factory=dict)


@dataclass
class StepResult:
    summary: str  # one line for the table
    path: Path | None = None  # where the step wrote its output


def step_collect(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.collect import collect, config_from_args

    cfg = config_from_args(args)
    cfg.out = run.root / "dataset"
    result = collect(cfg, progress=True)
    if result.saved < cfg.episodes:
        raise UserError(f"collected only {result.saved} of {cfg.episodes} episodes")
    run.outputs["dataset"] = cfg.out
    return StepResult(
        f"{result.saved} episodes, {result.frames} frames, expert success "
        f"{result.successes}/{result.attempts}, {result.frames_per_second:.0f} frames/s",
        cfg.out,
    )


def step_validate(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.datasets import validate_dataset

    report = validate_dataset(run.outputs["dataset"])
    report.raise_if_invalid()
    return StepResult(
        f"valid: {report.episodes} episodes, {report.frames} frames, "
        f"{report.video_frames_checked} video frames",
        run.outputs["dataset"],
    )


def step_replay(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.replay import DEFAULT_TOLERANCE, STATE_KEY, replay_episode

    video = run.root / "replay_episode0.mp4"
    result = replay_episode(run.outputs["dataset"], 0, video=video, progress=True)
    error = result.max_abs_error[STATE_KEY]
    if error > DEFAULT_TOLERANCE:
        raise UserError(f"replay diverged: max |Δ observation.state| {error:.3g} > {DEFAULT_TOLERANCE:g}")
    return StepResult(
        f"episode 0 replayed: max |Δ state| {error:.3g}, success {result.replayed_success}", video
    )


STEPS: list[tuple[str, Callable[[argparse.Namespace, DemoRun], StepResult]]] = [
    ("collect", step_collect),
    ("validate", step_validate),
    ("replay", step_replay),
]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="pick_place", help="task short name (default pick_place)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes to collect (default 5)")
    parser.add_argument(
        "--obs", default="state,rgb,pointcloud", help="observations recorded (default state,rgb,pointcloud)"
    )
    parser.add_argument(
        "--cameras", default="front,wrist", help="comma-separated cameras (default front,wrist)"
    )
    parser.add_argument("--num-points", type=int, default=512, help="points per point cloud (default 512)")
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=(96, 96),
        help="camera image size in pixels (default 96 96)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of the episodes (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("outputs/demo"),
        help="each run writes a new folder run-<time> under it (default outputs/demo)",
    )


def run(args: argparse.Namespace) -> int:
    # the collect step reads these through collect.config_from_args
    args.expert, args.controller, args.resume, args.keep_failed = "scripted", None, False, False
    args.noise, args.max_steps = None, None
    root = args.out / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    if root.exists():
        raise UserError(f"{root} already exists; wait a second and run again")
    demo = DemoRun(root)
    console = Console()
    table = Table(title=f"simreal demo: {args.task} (outputs under {root})")
    for column in ("step", "result", "seconds", "output"):
        table.add_column(column)
    for name, step in STEPS:
        console.rule(name)
        start = time.perf_counter()
        result = step(args, demo)
        where = "" if result.path is None else str(result.path.relative_to(root))
        table.add_row(name, result.summary, f"{time.perf_counter() - start:.1f}", where)
    console.print(table)
    console.print(f"everything is under {root}")
    return 0
