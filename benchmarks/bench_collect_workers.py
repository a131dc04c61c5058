"""`simreal collect --workers N`: wall time of make demo's collection for each worker count, side by side.

make demo's collection (pick_place, scripted expert, state + 128-point coloured cloud, ee_pose actions)
runs with each worker count in turn, `--repeats` rounds alternating; every dataset is checked equal,
frame for frame, to the one-process dataset of its round.

    .venv/bin/python benchmarks/bench_collect_workers.py [--episodes 40] [--workers 1,2] [--repeats 2]
Writes benchmarks/results/collect_workers.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from bench_env_steps import RESULTS, machine_info

os.environ.setdefault("MUJOCO_GL", "egl")


def collect_once(out: Path, episodes: int, workers: int) -> dict:
    from simreal.collect import CollectConfig, collect
    from simreal.sim import ObservationConfig

    obs = dataclasses.replace(ObservationConfig.parse("state,pointcloud,color"), num_points=128).validated()
    result = collect(
        CollectConfig("pick_place", episodes, out, obs, controller="ee_pose", workers=workers), progress=False
    )
    return {
        "workers": workers,
        "episodes": result.saved,
        "frames": result.frames,
        "seconds": round(result.seconds, 2),
        "frames_per_s": round(result.frames_per_second, 1),
        "load_average": list(os.getloadavg()),
    }


def same_frames(a: Path, b: Path) -> bool:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    one = LeRobotDataset("local", root=a).hf_dataset.with_format("numpy")[:]
    two = LeRobotDataset("local", root=b).hf_dataset.with_format("numpy")[:]
    return one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=40, help="episodes per collection (default 40)")
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds, alternating (default 2)")
    parser.add_argument("--out", type=Path, default=RESULTS / "collect_workers.json", help="JSON to write")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    rows = []
    print("| round | workers | seconds | frames/s | same dataset as 1 worker |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):
            for workers in counts:
                out = Path(tmp) / f"r{round_}w{workers}"
                row = {"round": round_, **collect_once(out, args.episodes, workers)}
                reference = Path(tmp) / f"r{round_}w{counts[0]}"
                row["same_as_first_count"] = same_frames(reference, out)
                rows.append(row)
                print(
                    f"| {round_} | {workers} | {row['seconds']:.1f} | {row['frames_per_s']:.0f} | "
                    f"{row['same_as_first_count']} |",
                    flush=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"benchmark": "collect_workers", "machine": machine_info(), "rows": rows}, indent=2)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
