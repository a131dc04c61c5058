"""MeanFlow training step: the JVP over the whole batch against the JVP only where r != t.

MeanFlow's target is v - (t - r) du/dt, and MP1 sets r = t for half of each batch, where the
derivative is multiplied by zero. `SimrealMeanflowPolicy.velocity_and_derivative` gives those samples
a plain forward pass and runs the JVP on the rest; `full_batch_jvp` below is the JVP over every
sample (simreal's step before 2026-12-03). Each drives `make demo`'s MeanFlow training (same loop,
batch 64, no loader worker) for N steps, in alternating subprocesses, so load changes hit both alike.

    .venv/bin/python benchmarks/bench_meanflow_jvp.py [--dataset DIR] [--train-steps 150] [--repeats 2]
Writes benchmarks/results/meanflow_jvp.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, machine_info
from bench_train_throughput import ensure_dataset, run_cell

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("full_batch_jvp", "jvp_where_r_differs")


def full_batch_jvp(self, z, t, r, v, cond):
    """The JVP over every sample of the batch (the derivative is computed where r = t too)."""
    import torch

    def u_fn(z_, t_, r_):
        return self.average_velocity(z_, t_, r_, cond, return_latents=True)

    return torch.func.jvp(u_fn, (z, t, r), (v, torch.ones_like(t), torch.zeros_like(r)), has_aux=True)


def train_variant(variant: str, dataset: Path, steps: int) -> dict:
    from simreal.demo import demo_policy_settings
    from simreal.policies.modeling_meanflow import SimrealMeanflowPolicy

    if variant == "full_batch_jvp":
        SimrealMeanflowPolicy.velocity_and_derivative = full_batch_jvp
    row = run_cell("meanflow", "pointcloud", dataset, steps, 64, 0, demo_policy_settings("meanflow", "small"))
    return {"variant": variant, **row}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", type=Path, help="dataset with state and pointcloud (default: collect one)"
    )
    parser.add_argument("--episodes", type=int, default=20, help="demos to collect when --dataset is absent")
    parser.add_argument("--train-steps", type=int, default=150, help="training steps per run (default 150)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each variant, alternating (default 2)"
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: one training run, print its JSON
    parser.add_argument("--out", type=Path, default=RESULTS / "meanflow_jvp.json", help="JSON output path")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(train_variant(args.variant, args.dataset, args.train_steps)))
        return

    dataset = args.dataset or ensure_dataset(
        ROOT / "outputs" / "bench" / f"pick_place_{args.episodes}ep", args.episodes
    )
    rows = []
    for variant in [v for _ in range(args.repeats) for v in VARIANTS]:
        command = [sys.executable, __file__, "--variant", variant, "--dataset", str(dataset)]
        done = subprocess.run(
            [*command, "--train-steps", str(args.train_steps)], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(
            f"{variant}: {row['step_s'] * 1e3:.0f} ms per step, {row['samples_per_s']:.0f} samples/s",
            flush=True,
        )
    mean_step = {v: sum(r["step_s"] for r in rows if r["variant"] == v) / args.repeats for v in VARIANTS}
    speedup = mean_step["full_batch_jvp"] / mean_step["jvp_where_r_differs"]
    print(f"step time, full-batch JVP / JVP where r != t: {speedup:.2f}x")
    result = {
        "dataset": str(dataset),
        "train_steps": args.train_steps,
        "mean_step_s": mean_step,
        "speedup": speedup,
        "runs": rows,
        "machine": machine_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
