"""CPU time to assemble one training batch, three readers side by side on the same dataset and rows.

Each batch is `--batch-size` training windows (2 observation frames of state + point cloud, 16
actions), the shape `simreal train` feeds the point-cloud heads:

- lerobot_per_item: LeRobot's own `LeRobotDataset[i]` with `delta_timestamps`, once per window, stacked
  (what a LeRobot training loop does);
- datasets_numpy_batch: one gather per column through the `datasets` numpy formatter, which goes
  through Python lists for nested arrays (simreal's reader before 2026-12-02);
- arrow_take: `simreal.training.data.TrainingWindows`: one Arrow `take` per column on the
  memory-mapped table, flattened straight into numpy.

Every reader's batch is checked against LeRobot's. On a 2-core machine the data-loading worker
shares the cores with training, so its CPU time per batch is time the training step does not get:
with `--train-steps N` the two batch readers then each drive `make demo`'s MeanFlow training (same
loop, batch 64) for N steps, in the loop's own process (0 data-loading workers: the reader is on the
step's critical path) and with one worker beside it (the demo's default), alternating, and the
training rates are compared (the LeRobot per-item reader is too slow to train with at this batch size).

    .venv/bin/python benchmarks/bench_data_reader.py [--dataset DIR] [--batches 20] [--train-steps 150]
Writes benchmarks/results/data_reader.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, machine_info
from bench_train_throughput import ensure_dataset, run_cell

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("observation.state", "observation.pointcloud")
OBS_DELTAS = (-1, 0)
ACTION_DELTAS = tuple(range(-1, 15))


def lerobot_per_item(dataset, rows):
    import torch

    items = [dataset[int(i)] for i in rows]
    return {k: torch.stack([item[k] for item in items]) for k in (*KEYS, "action")}


def datasets_numpy_batch(windows, rows):
    """The reader `TrainingWindows` had before: a `datasets` numpy-format gather per column."""
    import torch

    columns = windows.dataset.hf_dataset.with_format("numpy", columns=windows.array_keys)
    episode = windows.frame_episode[rows]
    start, end = windows.episode_starts[episode], windows.episode_ends[episode]
    batch = {}
    for key, deltas in windows.deltas.items():
        query = np.clip(rows[:, None] + deltas[None, :], start[:, None], end[:, None] - 1)
        flat = columns[query.reshape(-1).tolist()][key]
        values = torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32))
        batch[key] = values.reshape(*query.shape, *values.shape[1:])
    return batch


def train_with_reader(reader: str, dataset: Path, steps: int, workers: int) -> dict:
    """`make demo`'s MeanFlow training for `steps` steps, its windows read by `reader`. The loader's
    worker is forked, so it inherits the reader swapped in here."""
    from simreal.demo import demo_policy_settings
    from simreal.training.data import TrainingWindows

    if reader == "datasets_numpy_batch":
        TrainingWindows.__getitem__ = lambda self, rows: datasets_numpy_batch(self, np.asarray(rows))
    row = run_cell(
        "meanflow", "pointcloud", dataset, steps, 64, workers, demo_policy_settings("meanflow", "small")
    )
    return {"reader": reader, **row}


def compare_training(dataset: Path, steps: int) -> list[dict]:
    rows = []
    for workers, reader in [(w, r) for w in (0, 1, 1) for r in ("datasets_numpy_batch", "arrow_take")]:
        command = [
            sys.executable,
            __file__,
            "--train-cell",
            f"{reader}:{workers}",
            "--dataset",
            str(dataset),
            "--train-steps",
            str(steps),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(
            f"train with {reader}, {workers} workers: {row['samples_per_s']:.0f} samples/s, "
            f"{100 * row['data_wait_fraction']:.1f}% of step time waiting for data",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", type=Path, help="dataset with state and pointcloud (default: collect one)"
    )
    parser.add_argument("--episodes", type=int, default=20, help="demos to collect when --dataset is absent")
    parser.add_argument("--batches", type=int, default=20, help="batches per reader (default 20)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per batch (default 64)")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=0,
        help="also train with each batch reader this many steps (default 0: no)",
    )
    parser.add_argument("--train-cell", help=argparse.SUPPRESS)  # internal: one training run, print its JSON
    parser.add_argument("--out", type=Path, default=RESULTS / "data_reader.json", help="JSON output path")
    args = parser.parse_args()
    if args.train_cell:
        reader, workers = args.train_cell.split(":")
        print(json.dumps(train_with_reader(reader, args.dataset, args.train_steps, int(workers))))
        return

    import torch

    from simreal.datasets import open_dataset
    from simreal.training.data import TrainingWindows

    torch.set_num_threads(1)
    path = args.dataset or ensure_dataset(
        ROOT / "outputs" / "bench" / f"pick_place_{args.episodes}ep", args.episodes
    )
    fps = open_dataset(path).meta.fps
    reference = open_dataset(
        path,
        delta_timestamps={
            **{k: [d / fps for d in OBS_DELTAS] for k in KEYS},
            "action": [d / fps for d in ACTION_DELTAS],
        },
    )
    windows = TrainingWindows(open_dataset(path), KEYS, OBS_DELTAS, ACTION_DELTAS)
    readers = {
        "lerobot_per_item": lambda rows: lerobot_per_item(reference, rows),
        "datasets_numpy_batch": lambda rows: datasets_numpy_batch(windows, rows),
        "arrow_take": lambda rows: windows[rows],
    }
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, len(windows), args.batch_size) for _ in range(args.batches)]
    cpu_ms = {name: [] for name in readers}
    for rows in batches:  # readers alternate batch by batch, so load changes hit all of them alike
        expected = None
        for name, read in readers.items():
            start = time.process_time()
            batch = read(rows)
            cpu_ms[name].append(1e3 * (time.process_time() - start))
            expected = batch if expected is None else expected
            for key in (*KEYS, "action"):
                if not torch.allclose(batch[key], expected[key], atol=1e-6):
                    raise SystemExit(f"{name} disagrees with LeRobot's reader on {key}")
    baseline = float(np.median(cpu_ms["lerobot_per_item"]))
    rows_out = []
    print("| reader | CPU ms per batch (p50) | p90 | LeRobot per-item / this |")
    print("|---|---|---|---|")
    for name, times in cpu_ms.items():
        p50, p90 = float(np.median(times)), float(np.percentile(times, 90))
        rows_out.append(
            {"reader": name, "cpu_ms_p50": p50, "cpu_ms_p90": p90, "speedup_vs_lerobot": baseline / p50}
        )
        print(f"| {name} | {p50:.1f} | {p90:.1f} | {baseline / p50:.1f}x |")
    training = compare_training(path, args.train_steps) if args.train_steps else []
    shape = tuple(reference.meta.features["observation.pointcloud"]["shape"])
    result = {
        "benchmark": "data_reader",
        "dataset": str(path),
        "frames": len(windows),
        "pointcloud_shape": list(shape),
        "batch_size": args.batch_size,
        "batches": args.batches,
        "obs_deltas": list(OBS_DELTAS),
        "action_deltas": list(ACTION_DELTAS),
        "machine": machine_info(),
        "rows": rows_out,
        "training": training,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
