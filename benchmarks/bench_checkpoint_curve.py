"""Held-out success of every saved checkpoint of one or more training runs: the learning curve.

A run saves a checkpoint every quarter of its steps unless told otherwise (RUN/checkpoints/<step>);
each (or each of --steps) is evaluated on the same held-out seeds (`simreal eval`'s defaults: seeds from
100000, skipping the demos' seeds), so the rows differ only in training. Results are written after every
checkpoint, and a checkpoint already in the file is skipped unless --force.

    .venv/bin/python benchmarks/bench_checkpoint_curve.py RUN [RUN ...] --episodes 100 \\
        --out benchmarks/results/pick_place_checkpoint_curve.json
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, read_results, record_result


def checkpoints(run: Path) -> list[Path]:
    """The run's numbered checkpoint folders, in training order."""
    return sorted((p for p in (run / "checkpoints").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="training run directories (simreal train --out)")
    parser.add_argument("--episodes", type=int, default=100, help="held-out episodes per checkpoint")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="evaluation processes")
    parser.add_argument("--out", type=Path, default=RESULTS / "checkpoint_curve.json", help="JSON to write")
    parser.add_argument(
        "--skip-last",
        action="store_true",
        help="leave out each run's final checkpoint (e.g. bench_policy_success evaluated it on these seeds)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        metavar="STEP",
        help="evaluate only the checkpoints of these steps (default: every saved one)",
    )
    parser.add_argument("--force", action="store_true", help="re-evaluate checkpoints already in the file")
    args = parser.parse_args()
    chosen = {}
    for run in args.runs:
        if not (run / "checkpoints").is_dir():
            parser.error(f"{run} has no checkpoints/ folder: not a simreal training run")
        saved = checkpoints(run)
        chosen[run] = saved[:-1] if args.skip_last else saved
        if args.steps:
            missing = sorted(set(args.steps) - {int(p.name) for p in chosen[run]})
            if missing:
                parser.error(f"{run} has no checkpoint to evaluate at step(s) {missing}")
            chosen[run] = [p for p in chosen[run] if int(p.name) in args.steps]
    os.environ.setdefault("MUJOCO_GL", "egl")
    from simreal.evaluate import evaluate

    done = read_results(args.out).get("runs", {})
    for run in args.runs:
        name = f"{run.parent.name}/{run.name}"  # e.g. pick_place/meanflow_pointcloud
        for checkpoint in chosen[run]:
            step = str(int(checkpoint.name))
            if step in done.get(name, {}) and not args.force:
                continue
            row = evaluate(checkpoint, episodes=args.episodes, workers=args.workers, skip_demo_seeds=True)
            point = {
                k: row[k] for k in ("episodes", "successes", "success_rate", "success_ci95", "final_progress")
            }
            record_result(args.out, "checkpoint_curve", ("runs", name, step), point)
            low, high = row["success_ci95"]
            print(
                f"{name} @ {step}: {row['successes']}/{row['episodes']} [{low:.0%}, {high:.0%}]",
                flush=True,
            )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
