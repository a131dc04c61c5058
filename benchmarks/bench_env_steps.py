"""Env steps per second on one CPU core at 20 Hz control / 500 Hz physics.

Cases: state only (target >= 1000 steps/s); two 96x96 RGB cameras + a 512-point cloud (target >= 150);
state only with the EE-delta controller (IK per step), for reference. The process is pinned to one
core, BLAS/torch threads are 1, and Mesa's llvmpipe renders in the calling thread (LP_NUM_THREADS=0)
unless `--lp-threads` says otherwise.

    .venv/bin/python benchmarks/bench_env_steps.py [--quick]
Writes benchmarks/results/env_steps.json.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    """The machine (simreal.machine.describe_machine) and its load average, for the JSON next to every
    figure."""
    from simreal.machine import describe_machine

    return {**describe_machine(), "load_average": os.getloadavg()}


def read_results(out: Path) -> dict:
    """The results file `out` as a dict ({} if it does not exist yet)."""
    return json.loads(out.read_text()) if out.is_file() else {}


def record_result(out: Path, benchmark: str, keys: tuple[str, ...], value: dict) -> dict:
    """Set results[keys[0]][keys[1]]... = `value` in the results file `out` and write it back at once
    (an interrupted sweep keeps what it finished), under a lock and on what the file holds now, so
    benchmark processes writing other rows of the same file at the same time keep theirs.
    Returns the results written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = {"benchmark": benchmark, **read_results(out)}
        node = results
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        results["machine"] = machine_info()
        out.write_text(json.dumps(results, indent=2))
    return results


def measure(task: str, obs_spec: str, controller: str, steps: int) -> dict:
    import numpy as np

    from simreal.sim import ObservationConfig, make_env

    env = make_env(task, obs=ObservationConfig.parse(obs_spec), controller=controller)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    if controller == "joint_pos":
        # Small wiggles around home: the arm moves, contacts stay realistic.
        base = np.append(env.home_q, 0.0)
        actions = base + np.append(rng.normal(0, 0.05, (steps, 7)), rng.uniform(0, 1, (steps, 1)), axis=1)
    else:
        actions = np.append(rng.normal(0, 0.005, (steps, 6)), rng.uniform(0, 1, (steps, 1)), axis=1)
    actions = actions.astype(np.float32)
    for action in actions[:10]:  # warm-up: GL context, caches
        env.step(action)
    env.reset(seed=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    for i, action in enumerate(actions):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset(seed=i)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    env.close()
    # CPU time counts only this process (rendering included: llvmpipe runs in this thread), so it
    # estimates the rate on an idle core even when other work shares the machine.
    return {
        "steps": steps,
        "seconds": elapsed,
        "steps_per_s": steps / elapsed,
        "ms_per_step": 1e3 * elapsed / steps,
        "cpu_seconds": cpu,
        "cpu_steps_per_s": steps / cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (few steps per case)")
    parser.add_argument("--task", default="pick_place", help="task to step (default: %(default)s)")
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (default: %(default)s)")
    parser.add_argument("--lp-threads", default="0", help="Mesa llvmpipe threads (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS / "env_steps.json", help="JSON output path")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["LP_NUM_THREADS"] = args.lp_threads
    os.environ.setdefault("MUJOCO_GL", "egl")

    scale = 0.1 if args.quick else 1.0
    cases = [
        ("state only", "state", "joint_pos", int(3000 * scale), 1000),
        ("2x 96x96 RGB + 512-pt cloud", "state,rgb,pointcloud", "joint_pos", int(600 * scale), 150),
        ("state only, ee_delta (IK)", "state", "ee_delta", int(1500 * scale), None),
    ]
    rows = []
    for name, obs, controller, steps, target in cases:
        result = measure(args.task, obs, controller, steps)
        rows.append(
            {"case": name, "obs": obs, "controller": controller, "target_steps_per_s": target, **result}
        )
        verdict = "" if target is None else ("  OK" if result["steps_per_s"] >= target else "  BELOW TARGET")
        print(
            f"{name:32s} {result['steps_per_s']:8.1f} steps/s wall, {result['cpu_steps_per_s']:8.1f} "
            f"steps/s CPU time, {result['ms_per_step']:7.2f} ms/step wall{verdict}"
        )
    report = {
        "benchmark": "env_steps",
        "task": args.task,
        "quick": args.quick,
        "fps": 20,
        "physics_hz": 500,
        "pinned_core": args.core,
        "lp_num_threads": args.lp_threads,
        "machine": machine_info(),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
