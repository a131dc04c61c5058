"""Scripted-expert success over seeded episodes for every registered task, with Wilson 95% intervals.

Episode i resets with seed i and drives the expert with np.random.default_rng(10_000 + i) at the
task's default noise; observations are state only (the expert reads the simulator).

    .venv/bin/python benchmarks/bench_expert_success.py [--quick] [--episodes 200] [--tasks a,b]
Writes benchmarks/results/expert_success.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench_env_steps import RESULTS, machine_info
from simreal.evaluate import wilson_interval


def run_task(task: str, episodes: int, controller: str) -> dict:
    import numpy as np
    from tqdm import tqdm

    from simreal.sim import ObservationConfig, make_env

    env = make_env(task, obs=ObservationConfig.parse("state"), controller=controller)
    successes, lengths, failed_seeds = 0, [], []
    start = time.perf_counter()
    for seed in tqdm(range(episodes), desc=task, unit="ep"):
        obs, info = env.reset(seed=seed)
        expert = env.make_expert(np.random.default_rng(10_000 + seed))
        for _ in range(env.max_episode_steps):
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        successes += info["success"]
        if info["success"]:
            lengths.append(env.steps)
        else:
            failed_seeds.append(seed)
    env.close()
    low, high = wilson_interval(successes, episodes)
    return {
        "task": task,
        "controller": controller,
        "episodes": episodes,
        "successes": successes,
        "success_rate": successes / episodes,
        "wilson95": [low, high],
        "mean_steps_on_success": float(np.mean(lengths)) if lengths else None,
        "max_episode_steps": env.max_episode_steps,
        "failed_seeds": failed_seeds,
        "seconds": time.perf_counter() - start,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 episodes per task (a smoke run)")
    parser.add_argument("--episodes", type=int, default=200, help="episodes per task (default: %(default)s)")
    parser.add_argument(
        "--tasks", default="", help="comma-separated task names (default: every registered task)"
    )
    parser.add_argument(
        "--controller", default="joint_pos", help="joint_pos or ee_delta (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "expert_success.json", help="JSON output path")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    from simreal.errors import UserError
    from simreal.sim import TASKS

    tasks = [t for t in args.tasks.split(",") if t] or sorted(TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise UserError(f"unknown task(s) {', '.join(unknown)}; valid: {', '.join(sorted(TASKS))}")
    episodes = 10 if args.quick else args.episodes
    rows = [run_task(task, episodes, args.controller) for task in tasks]
    print(f"{'task':14s} {'success':>8s} {'wilson 95%':>16s} {'mean steps':>10s}")
    for r in rows:
        steps = f"{r['mean_steps_on_success']:.1f}" if r["mean_steps_on_success"] else "-"
        print(
            f"{r['task']:14s} {r['success_rate']:8.3f} "
            f"[{r['wilson95'][0]:.3f}, {r['wilson95'][1]:.3f}] {steps:>10s}"
        )
    report = {"benchmark": "expert_success", "quick": args.quick, "machine": machine_info(), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
