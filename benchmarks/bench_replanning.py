"""Held-out success of a run's last checkpoint when it re-plans more or less often: the same weights
executing N actions of each chunk before planning again (`simreal eval --action-steps N`), for each N
given. Every row uses `simreal eval`'s held-out seeds and seeded sampling noise, so rows of one run
differ only in N. A policy that times a discrete event (the jaw's release) by its place in the chunk
rather than by what it sees collapses when N shrinks. A row already in the file is skipped unless
--force.

    .venv/bin/python benchmarks/bench_replanning.py RUN [RUN ...] --action-steps 4 8 \\
        --out benchmarks/results/pick_place_replanning.json
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, read_results, record_result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="training run directories (simreal train --out)")
    parser.add_argument(
        "--action-steps", type=int, nargs="+", required=True, help="actions executed per chunk, one row each"
    )
    parser.add_argument("--episodes", type=int, default=100, help="held-out episodes per row")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="evaluation processes")
    parser.add_argument("--out", type=Path, default=RESULTS / "replanning.json", help="JSON to write")
    parser.add_argument("--force", action="store_true", help="re-evaluate rows already in the file")
    args = parser.parse_args()
    for run in args.runs:
        if not (run / "checkpoints" / "last").exists():
            parser.error(f"{run} has no checkpoints/last: not a finished simreal training run")
    os.environ.setdefault("MUJOCO_GL", "egl")
    from simreal.evaluate import evaluate

    done = read_results(args.out).get("runs", {})
    for run in args.runs:
        name = f"{run.parent.name}/{run.name}"  # e.g. pick_place/meanflow_pointcloud
        for steps in args.action_steps:
            if str(steps) in done.get(name, {}) and not args.force:
                continue
            row = evaluate(
                run, episodes=args.episodes, workers=args.workers, skip_demo_seeds=True, action_steps=steps
            )
            keep = ("episodes", "successes", "success_rate", "success_ci95", "final_progress", "checkpoint")
            record_result(args.out, "replanning", ("runs", name, str(steps)), {k: row[k] for k in keep})
            low, high = row["success_ci95"]
            rate = f"{row['successes']}/{row['episodes']} [{low:.0%}, {high:.0%}]"
            print(f"{name}, {steps} actions per chunk: {rate}", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
