"""Training throughput of every policy head: samples/s, the share of step time spent waiting for data,
and peak resident memory, on a pick_place dataset (state + front/wrist RGB + 512-point cloud).

Each (policy, observation) cell trains in its own process (so peak RSS is that cell's alone) with
`simreal.train.train`, the same loop `simreal train` runs; the first steps (warm-up, JVP tracing)
are left out of the rates.

    .venv/bin/python benchmarks/bench_train_throughput.py [--quick] [--dataset DIR] [--steps 30]
Writes benchmarks/results/train_throughput.json. Target: peak RSS <= 4 GB for the small config.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_env_steps import RESULTS, machine_info

ROOT = Path(__file__).resolve().parent.parent
CELLS = [
    ("meanflow", "pointcloud"),
    ("diffusion", "pointcloud"),
    ("streaming", "pointcloud"),
    ("meanflow", "image"),
    ("diffusion", "image"),
    ("streaming", "image"),
    ("lerobot_diffusion", "image"),
]
OBS = {"pointcloud": ("state", "pointcloud"), "image": ("state", "rgb")}
SKIP_STEPS = 3


def ensure_dataset(path: Path, episodes: int) -> Path:
    """Collect `episodes` scripted pick_place demos with every modality, once."""
    if (path / "meta" / "simreal.json").is_file():
        return path
    from simreal.collect import CollectConfig, collect
    from simreal.sim import ObservationConfig

    collect(
        CollectConfig(
            task="pick_place",
            episodes=episodes,
            out=path,
            obs=ObservationConfig.parse("state,rgb,pointcloud"),
        )
    )
    return path


def run_cell(policy: str, obs: str, dataset: Path, steps: int, batch_size: int, workers: int) -> dict:
    """Train one cell in this process and measure it."""
    from simreal.train import train
    from simreal.training.config import TrainConfig

    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(
            policy=policy,
            dataset=str(dataset),
            out=out,
            obs=OBS[obs],
            preset="small",
            steps=steps,
            batch_size=batch_size,
            device="cpu",
            num_workers=workers,
            save_every=steps,
            log_every=steps,
        )
        result = train(config)
    data = sum(result.step_data_s[SKIP_STEPS:])
    update = sum(result.step_update_s[SKIP_STEPS:])
    measured = len(result.step_update_s[SKIP_STEPS:])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_kb += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "policy": policy,
        "obs": obs,
        "preset": "small",
        "batch_size": batch_size,
        "num_workers": workers,
        "steps_measured": measured,
        "samples_per_s": measured * batch_size / (data + update),
        "step_s": (data + update) / measured,
        "data_wait_fraction": data / (data + update),
        "peak_rss_gb": peak_kb / 1024**2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few steps, three cells: a smoke run")
    parser.add_argument(
        "--dataset", type=Path, help="dataset with state, rgb and pointcloud (default: collect one)"
    )
    parser.add_argument("--episodes", type=int, default=20, help="demos to collect when --dataset is absent")
    parser.add_argument("--steps", type=int, default=30, help="training steps per cell (first 3 not timed)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per step (default 64)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument("--cells", help="comma-separated policy:obs cells (default: all)")
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # internal: run one cell, print its JSON
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "train_throughput.json", help="JSON output path"
    )
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")

    if args.cell:
        policy, obs = args.cell.split(":")
        print(json.dumps(run_cell(policy, obs, args.dataset, args.steps, args.batch_size, args.workers)))
        return

    steps = 6 if args.quick else args.steps
    episodes = 3 if args.quick else args.episodes
    dataset = args.dataset or ensure_dataset(
        ROOT / "outputs" / "bench" / f"pick_place_{episodes}ep", episodes
    )
    cells = [tuple(c.split(":")) for c in args.cells.split(",")] if args.cells else CELLS
    if args.quick and not args.cells:
        cells = [("meanflow", "pointcloud"), ("diffusion", "image"), ("lerobot_diffusion", "image")]
    rows = []
    for policy, obs in cells:
        command = [
            sys.executable,
            __file__,
            "--cell",
            f"{policy}:{obs}",
            "--dataset",
            str(dataset),
            "--steps",
            str(steps),
            "--batch-size",
            str(args.batch_size),
            "--workers",
            str(args.workers),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{policy}:{obs} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(
            f"{policy:18s} {obs:10s} {row['samples_per_s']:8.1f} samples/s  {row['step_s']:6.2f} s/step  "
            f"{100 * row['data_wait_fraction']:5.1f}% data wait  {row['peak_rss_gb']:5.2f} GB peak RSS",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "train_throughput",
        "quick": args.quick,
        "dataset": str(dataset),
        "steps_per_cell": steps,
        "machine": machine_info(),
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
