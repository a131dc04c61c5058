"""Training throughput of every policy head: samples/s, the share of step time spent waiting for data,
and peak resident memory, on a pick_place dataset (state + front/wrist RGB + 512-point cloud).

Each (policy, observation) cell trains in its own process (so peak RSS is that cell's alone) with
`simreal.train.train`, the same loop `simreal train` runs; the first steps (warm-up, JVP tracing)
are left out of the rates.

    .venv/bin/python benchmarks/bench_train_throughput.py [--quick] [--dataset DIR] [--steps 30]
    .venv/bin/python benchmarks/bench_train_throughput.py --cells meanflow:pointcloud \
        --set n_obs_steps=2 --set horizon=16 --set n_action_steps=8 --set 'down_dims=[32,64,128]'
    .venv/bin/python benchmarks/bench_train_throughput.py --cells meanflow:pointcloud --threads 1,2 \
        --workers 0,1 --processes 1,2 --repeats 2 ...   (each combination side by side, alternating)
    .venv/bin/python benchmarks/bench_train_throughput.py --cells meanflow:pointcloud --repeats 3 \
        --variant jvp=unet --variant jvp=torch_func ...   (config variants, alternating)
    .venv/bin/python benchmarks/bench_train_throughput.py --baseline-tree /tmp/old ...
        (also runs every combination with the simreal of another checkout, e.g. `git worktree add
        /tmp/old <commit>`: a speed-up measured side by side; variants apply to this tree only)
Writes benchmarks/results/train_throughput.json. Target: peak RSS <= 4 GB for the small config.
CPU seconds are recorded beside wall seconds: on a shared machine their ratio is the share of the
cores the run got, which is what an extrapolation to an idle machine needs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
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
BASELINE = "baseline"  # the variant name of --baseline-tree's runs


def git_commit(tree: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


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


def run_cell(
    policy: str,
    obs: str,
    dataset: Path,
    steps: int,
    batch_size: int,
    workers: int,
    overrides: dict,
    threads: int = 0,
    processes: int = 1,
) -> dict:
    """Train one cell in this process and measure it (`overrides`: policy config fields; `threads`:
    torch CPU threads per process, 0 = torch's default; `processes`: data-parallel processes)."""
    import torch

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
            threads=threads,
            processes=processes,
            save_every=steps,
            log_every=steps,
            policy_overrides=dict(overrides),
        )
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        result = train(config)
        cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
    data = sum(result.step_data_s[SKIP_STEPS:])
    update = sum(result.step_update_s[SKIP_STEPS:])
    measured = len(result.step_update_s[SKIP_STEPS:])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_kb += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "policy": policy,
        "obs": obs,
        "preset": "small",
        "overrides": overrides,
        "batch_size": batch_size,
        "num_workers": workers,
        "threads": threads or torch.get_num_threads(),
        "processes": processes,
        "steps_measured": measured,
        "samples_per_s": measured * batch_size / (data + update),
        "step_s": (data + update) / measured,
        "data_wait_fraction": data / (data + update),
        "peak_rss_gb": peak_kb / 1024**2,
        # the whole call (set-up included): cpu/wall is the share of the cores this run's first
        # process got
        "train_call_wall_s": wall_s,
        "train_call_cpu_s": cpu_s,
        "load_average": list(os.getloadavg()),
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
    parser.add_argument(
        "--workers", default="0", help="DataLoader workers; a comma list runs each (default 0)"
    )
    parser.add_argument(
        "--threads",
        default="0",
        help="torch CPU threads for training; a comma list runs each (default 0: torch's default)",
    )
    parser.add_argument(
        "--processes",
        default="1",
        help="data-parallel training processes; a comma list runs each (default 1)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of every combination, alternating (default 1)"
    )
    parser.add_argument("--cells", help="comma-separated policy:obs cells (default: all)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="policy config override for every cell, as `simreal train --set` takes it (repeatable)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE[;KEY=VALUE]",
        help="a set of policy config overrides on top of --set; repeat to run each, alternating",
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="another simreal checkout whose src/ is run too, alternating, with --set but no --variant",
    )
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # internal: run one cell, print its JSON
    parser.add_argument("--cell-overrides", default="{}", help=argparse.SUPPRESS)  # internal: its JSON
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "train_throughput.json", help="JSON output path"
    )
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")

    if args.cell:
        policy, obs = args.cell.split(":")
        row = run_cell(
            policy,
            obs,
            args.dataset,
            args.steps,
            args.batch_size,
            int(args.workers),
            json.loads(args.cell_overrides),
            int(args.threads),
            int(args.processes),
        )
        print(json.dumps(row))
        return

    from simreal.errors import UserError
    from simreal.train import parse_overrides

    # parsed here, by this tree, so that a --baseline-tree run gets the same values whatever its parser
    try:
        overrides = parse_overrides(args.set)
    except UserError as err:
        parser.error(str(err))
    variants = {}
    for variant in args.variant:
        try:
            variants[variant] = parse_overrides(list(filter(None, variant.split(";"))))
        except UserError:
            parser.error(f"--variant expects KEY=VALUE[;KEY=VALUE], got {variant!r}")
    steps = 6 if args.quick else args.steps
    episodes = 3 if args.quick else args.episodes
    dataset = args.dataset or ensure_dataset(
        ROOT / "outputs" / "bench" / f"pick_place_{episodes}ep", episodes
    )
    cells = [tuple(c.split(":")) for c in args.cells.split(",")] if args.cells else CELLS
    baseline = (
        {"tree": str(args.baseline_tree), "commit": git_commit(args.baseline_tree)}
        if args.baseline_tree
        else None
    )
    if args.quick and not args.cells:
        cells = [("meanflow", "pointcloud"), ("diffusion", "image"), ("lerobot_diffusion", "image")]
    runs = [
        (policy, obs, threads, workers, processes, variant)
        for _ in range(args.repeats)
        for policy, obs in cells
        for threads in args.threads.split(",")
        for workers in args.workers.split(",")
        for processes in args.processes.split(",")
        for variant in [*(args.variant or [""]), *([BASELINE] if args.baseline_tree else [])]
    ]
    rows = []
    print(
        "| policy | obs | variant | processes | threads | workers | samples/s | s/step | data wait "
        "| peak RSS GB | CPU/wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for policy, obs, threads, workers, processes, variant in runs:
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
            workers,
            "--threads",
            threads,
            "--processes",
            processes,
        ]
        env = dict(os.environ)
        if variant == BASELINE:
            env["PYTHONPATH"] = str(args.baseline_tree.resolve() / "src")
        command += ["--cell-overrides", json.dumps({**overrides, **variants.get(variant, {})})]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            print(f"{policy}:{obs} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append({"variant": variant, **json.loads(done.stdout.strip().splitlines()[-1])})
        if variant == BASELINE:
            rows[-1]["tree"] = baseline
        row = rows[-1]
        share = row["train_call_cpu_s"] / row["train_call_wall_s"]
        print(
            f"| {policy} | {obs} | {variant or '-'} | {processes} | {row['threads']} | {workers} | "
            f"{row['samples_per_s']:.1f} | "
            f"{row['step_s']:.2f} | "
            f"{100 * row['data_wait_fraction']:.1f}% | {row['peak_rss_gb']:.2f} | {share:.2f} |",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "commit": git_commit(ROOT),
        "baseline": baseline if args.baseline_tree else None,
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
