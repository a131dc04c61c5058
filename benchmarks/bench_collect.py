"""Collection throughput and memory: how fast episodes reach disk, and whether a long run leaks.

Cases
- collect/<obs>: `simreal.collect.collect` end to end on pick_place (MuJoCo + scripted expert +
  LeRobot writer) for state only and for two 96x96 RGB cameras + a 512-point cloud.
- write/<obs>: the recorder alone (DatasetRecorder -> LeRobot add_frame/save_episode, video
  encoded while frames arrive), fed with one captured pick_place episode over and over: the cost
  of storage without the simulator.
- memory/write: resident memory (RSS) after every saved episode over 200 episodes of the
  rgb+pointcloud recorder case; growth is measured from episode 10 (encoders and buffers are
  warm by then) to the end. Pass: growth < 10% and peak <= 2 GB.
- memory/collect: the same over 200 episodes of end-to-end state-only collection.

    .venv/bin/python benchmarks/bench_collect.py [--quick]
Writes benchmarks/results/collect.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from bench_env_steps import machine_info  # one machine description for every benchmark

os.environ.setdefault("MUJOCO_GL", "egl")

RESULTS = Path(__file__).resolve().parent / "results"
SPECS = {"state": "state", "rgb+pointcloud": "state,rgb,pointcloud"}
WARMUP_EPISODES = 10


def obs_config(spec: str):
    from simreal.sim import ObservationConfig

    return ObservationConfig.parse(spec)


def video_keys(spec: str) -> int:
    return 2 if "rgb" in spec else 0  # front and wrist cameras


def bench_collect(spec: str, episodes: int, workdir: Path) -> dict:
    from simreal.collect import CollectConfig, collect

    out = workdir / f"collect-{spec.replace(',', '-')}"
    result = collect(CollectConfig("pick_place", episodes, out, obs_config(spec)), progress=False)
    return {
        "episodes": result.saved,
        "frames": result.frames,
        "seconds": round(result.seconds, 2),
        "frames_per_s": round(result.frames_per_second, 1),
        "video_frames_encoded_per_s": round(result.frames_per_second * video_keys(spec), 1),
        "dataset_mb": round(_tree_mb(out), 2),
    }


def capture_episode(spec: str):
    """(task env, frames): one real pick_place episode's observations and actions."""
    import numpy as np

    from simreal.sim import make_env

    env = make_env("pick_place", obs=obs_config(spec))
    obs, _ = env.reset(seed=0)
    expert = env.unwrapped.make_expert(np.random.default_rng(0))
    frames = []
    done = False
    while not done:
        action = expert.act(obs)
        frames.append((obs, action))
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return env, frames


def open_recorder(env, spec: str, out: Path):
    from simreal.datasets import DatasetRecorder

    task = env.unwrapped
    return DatasetRecorder.open(
        out,
        env_features=task.features,
        fps=task.fps,
        task="pick_place",
        task_description=task.task_description,
        controller="joint_pos",
        observation=task.obs_config.to_dict(),
        expert={"kind": "scripted", "noise": 1.0},
    )


def bench_write(spec: str, episodes: int, workdir: Path, rss_trace: list[float] | None = None) -> dict:
    env, frames = capture_episode(spec)
    out = workdir / f"write-{spec.replace(',', '-')}"
    process = psutil.Process()
    start = time.perf_counter()
    with open_recorder(env, spec, out) as recorder:
        for episode in range(episodes):
            for obs, action in frames:
                recorder.add_frame(obs, action)
            recorder.save_episode(seed=episode, success=True)
            if rss_trace is not None:
                rss_trace.append(process.memory_info().rss / 1e6)
    seconds = time.perf_counter() - start
    env.close()
    total = episodes * len(frames)
    return {
        "episodes": episodes,
        "frames": total,
        "seconds": round(seconds, 2),
        "frames_per_s": round(total / seconds, 1),
        "video_frames_encoded_per_s": round(total * video_keys(spec) / seconds, 1),
        "dataset_mb": round(_tree_mb(out), 2),
    }


def memory_summary(trace: list[float]) -> dict:
    warm = trace[min(WARMUP_EPISODES, len(trace) - 1)]
    growth = (trace[-1] - warm) / warm
    return {
        "episodes": len(trace),
        "rss_mb_first": round(trace[0], 1),
        "rss_mb_after_warmup": round(warm, 1),
        "rss_mb_last": round(trace[-1], 1),
        "rss_mb_peak": round(max(trace), 1),
        "growth_after_warmup": round(growth, 4),
        "pass": bool(growth < 0.10 and max(trace) <= 2000),
        "rss_mb_per_episode": [round(x, 1) for x in trace],
    }


def bench_memory_collect(episodes: int, workdir: Path) -> dict:
    from simreal.collect import CollectConfig, collect

    process = psutil.Process()
    trace: list[float] = []
    cfg = CollectConfig("pick_place", episodes, workdir / "memory-collect", obs_config("state"))
    collect(cfg, progress=False, on_episode=lambda _: trace.append(process.memory_info().rss / 1e6))
    return memory_summary(trace)


def _tree_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few episodes: a smoke run, not a measurement")
    parser.add_argument("--out", type=Path, default=RESULTS / "collect.json", help="JSON to write")
    args = parser.parse_args()
    n_collect = {"state": 2, "rgb+pointcloud": 1} if args.quick else {"state": 10, "rgb+pointcloud": 5}
    n_write = 3 if args.quick else 20
    n_memory = 15 if args.quick else 200

    workdir = Path(tempfile.mkdtemp(prefix="bench_collect_"))
    from importlib.metadata import version

    results: dict = {
        "machine": {**machine_info(), "lerobot": version("lerobot")},
        "quick": args.quick,
        "cases": {},
    }
    try:
        for name, spec in SPECS.items():
            results["cases"][f"collect/{name}"] = bench_collect(spec, n_collect[name], workdir)
            results["cases"][f"write/{name}"] = bench_write(spec, n_write, workdir)
        trace: list[float] = []
        bench_write(SPECS["rgb+pointcloud"], n_memory, workdir / "memory", rss_trace=trace)
        results["cases"]["memory/write"] = memory_summary(trace)
        results["cases"]["memory/collect"] = bench_memory_collect(n_memory, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{'case':28s} {'episodes':>8s} {'frames/s':>9s} {'video fr/s':>10s} {'MB':>7s}")
    for case, r in results["cases"].items():
        if case.startswith("memory/"):
            continue
        print(
            f"{case:28s} {r['episodes']:8d} {r['frames_per_s']:9.1f} "
            f"{r['video_frames_encoded_per_s']:10.1f} {r['dataset_mb']:7.2f}"
        )
    for case in ("memory/write", "memory/collect"):
        m = results["cases"][case]
        print(
            f"{case:28s} {m['episodes']:8d} episodes: "
            f"RSS {m['rss_mb_after_warmup']:.0f} -> {m['rss_mb_last']:.0f} MB "
            f"(growth {m['growth_after_warmup']:+.1%}, peak {m['rss_mb_peak']:.0f} MB) "
            f"{'PASS' if m['pass'] else 'FAIL'}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
