"""`simreal eval`: success rate (95% Wilson interval), episode length and policy latency in sim.

    simreal eval --checkpoint runs/mf --episodes 100 --seed-start 100000 --workers 2 --json eval.json

Seeds: episode i uses seed `seed_start + i`. Seeds the dataset's demonstrations used (its sidecar,
copied into the checkpoint) are refused, or stepped over with --skip-demo-seeds, so a policy is never
scored on the very scenes it was trained on.

A checkpoint without that copy (LeRobot's own `lerobot-train` writes none) is evaluated with
`--dataset DS`, the dataset it was trained on: DS's sidecar then gives the task, observations,
controller and demo seeds, and the checkpoint must fit DS's features and statistics.

    simreal eval --checkpoint outputs/train/dp/checkpoints/last/pretrained_model --dataset data/pp
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from simreal.errors import UserError
from simreal.machine import describe_machine
from simreal.policies import PolicyRunner, load_policy
from simreal.policies.configuration_streaming import SimrealStreamingConfig
from simreal.rollout import (
    DEFAULT_EVAL_SEED_START,
    Episode,
    held_out_seeds,
    make_task_env,
    run_episode,
    write_video,
)
from simreal.training.checkpoint import DATASET_META, resolve_pretrained_dir


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (default: 95%)."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(episodes: list[Episode]) -> dict[str, Any]:
    """Success rate with its 95% Wilson interval, episode lengths (steps), final and peak progress, the
    failed episodes' mean `outcome` measures (how far from success they ended) and latency (ms)."""
    successes = sum(e.success for e in episodes)
    lengths = np.array([e.length for e in episodes], dtype=float)
    failed = [e for e in episodes if not e.success]
    latencies_ms = 1e3 * np.array([t for e in episodes for t in e.latencies_s] or [np.nan])
    low, high = wilson_interval(successes, len(episodes))
    return {
        "episodes": len(episodes),
        "successes": successes,
        "success_rate": successes / len(episodes),
        "success_ci95": [low, high],
        "episode_length": {
            "mean": float(lengths.mean()),
            "median": float(np.median(lengths)),
            "max": int(lengths.max()),
        },
        "final_progress": {
            "mean": float(np.mean([e.final_progress for e in episodes])),
            "failed_mean": float(np.mean([e.final_progress for e in failed])) if failed else None,
            "failed_peak_mean": float(np.mean([e.peak_progress for e in failed])) if failed else None,
        },
        "failed_outcome_mean": {
            name: float(np.mean([e.outcome[name] for e in failed]))
            for name in (failed[0].outcome if failed else {})
        },
        "latency_ms": {
            "p50": float(np.percentile(latencies_ms, 50)),
            "p99": float(np.percentile(latencies_ms, 99)),
            "mean": float(latencies_ms.mean()),
            "calls": int(latencies_ms.size),
        },
        "per_episode": [e.summary() for e in episodes],
    }


# Worker-process state: each worker loads the policy and builds the env once.
_WORKER: dict[str, Any] = {}


def _init_worker(
    parent_pid: int,
    pretrained_dir: str,
    dataset_meta: dict,
    task: str | None,
    threads: int,
    overrides: dict,
    execution: dict,
) -> None:
    import torch

    _exit_with_parent(parent_pid)
    torch.set_num_threads(threads)
    _start_worker(load_policy(pretrained_dir, "cpu", **execution), dataset_meta, task, overrides)


def _exit_with_parent(parent_pid: int, period_s: float = 0.5) -> None:
    """End this worker once `simreal eval` is gone. A SIGTERM or SIGKILL to it skips the pool's
    shutdown, and a worker would otherwise wait on its task queue forever, holding a policy in memory."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(period_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(runner: PolicyRunner, dataset_meta: dict, task: str | None, overrides: dict) -> None:
    env = make_task_env(dataset_meta, task, **overrides)
    # One untimed call first: lazy initialisation (kernels, scripting) is not per-call latency.
    runner(env.reset(seed=0)[0])
    runner.reset()
    _WORKER.update(runner=runner, env=env)


def _worker_episode(seed: int, film: str | None) -> Episode:
    return run_episode(_WORKER["env"], _WORKER["runner"], seed, film=film)


def evaluate(
    checkpoint: str | Path,
    *,
    episodes: int,
    seed_start: int = DEFAULT_EVAL_SEED_START,
    task: str | None = None,
    workers: int = 1,
    video_dir: str | Path | None = None,
    videos: int = 3,
    skip_demo_seeds: bool = False,
    max_steps: int | None = None,
    inference_steps: int | None = None,
    action_steps: int | None = None,
    dataset: str | Path | None = None,
) -> dict[str, Any]:
    """Roll the checkpoint's policy out for `episodes` held-out seeds; returns the summary dict.

    `checkpoint`: a run directory (uses checkpoints/last), a checkpoint or a pretrained_model dir.
    `dataset`: the dataset it was trained on, read in place of the dataset sidecar in the checkpoint
    (which lerobot-train checkpoints lack); the checkpoint must fit its features and statistics.
    The first `videos` episodes are filmed into `video_dir` when it is given. `max_steps` replaces
    the task's episode limit (control steps); `inference_steps` the policy's saved number of sampling
    steps (network calls per chunk); `action_steps` its actions executed per chunk.
    """
    import torch

    from simreal.datasets import used_seeds

    pretrained = resolve_pretrained_dir(checkpoint)
    dataset_meta, fit = _dataset_context(pretrained, dataset)
    seeds = held_out_seeds(seed_start, episodes, used_seeds(dataset_meta), skip_demo_seeds=skip_demo_seeds)
    camera = ((dataset_meta.get("observation") or {}).get("cameras") or ["front"])[0]
    films = {s: camera for s in seeds[:videos]} if video_dir else {}
    overrides = {} if max_steps is None else {"max_episode_steps": max_steps}
    workers = max(1, min(workers, len(seeds)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    started = time.perf_counter()
    # Loaded here first: a checkpoint that does not fit is refused before any episode or worker starts.
    execution = {"inference_steps": inference_steps, "action_steps": action_steps}
    runner = load_policy(pretrained, "cpu", **execution, **fit)
    initargs = (os.getpid(), str(pretrained), dataset_meta, task, threads, overrides, execution)
    bar = tqdm(total=len(seeds), desc="eval", unit="episode")
    results: list[Episode] = []

    def record(episode: Episode) -> None:
        results.append(episode)
        bar.update(1)
        bar.set_postfix(success=f"{sum(e.success for e in results)}/{len(results)}")

    if workers == 1:  # in this process: no start-up cost, plain tracebacks
        torch.set_num_threads(threads)
        _start_worker(runner, dataset_meta, task, overrides)
        try:
            for seed in seeds:
                record(_worker_episode(seed, films.get(seed)))
        finally:
            _WORKER.pop("env").close()
    else:
        context = get_context("spawn")  # fresh interpreters: no forked EGL or torch thread state
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=initargs
        ) as pool:
            for future in as_completed([pool.submit(_worker_episode, s, films.get(s)) for s in seeds]):
                record(future.result())
    bar.close()
    results.sort(key=lambda e: seeds.index(e.seed))
    video_paths = []
    for episode in results:
        if episode.frames:
            name = f"seed{episode.seed}_{'success' if episode.success else 'failure'}.mp4"
            video_paths.append(
                str(write_video(Path(video_dir) / name, episode.frames, dataset_meta.get("fps", 20)))
            )
    return {
        "checkpoint": str(pretrained),
        "policy_type": runner.config.type,
        "task": task or dataset_meta.get("task"),
        "dataset": None if dataset is None else str(dataset),
        "seeds": {
            "start": seeds[0],
            "end": seeds[-1],
            "skipped_demo_seeds": skip_demo_seeds,
            "demo_seeds_known": bool(dataset_meta),
        },
        "max_steps": max_steps,
        "inference_steps": _inference_steps(runner.config),
        "action_steps": runner.n_action_steps,
        **summarize(results),
        "videos": video_paths,
        "workers": workers,
        "wall_s": time.perf_counter() - started,
        "machine": describe_machine(),
    }


def _inference_steps(config: Any) -> int | None:
    """Network calls per chunk, or per planning call of the streaming head's buffer."""
    if isinstance(config, SimrealStreamingConfig):
        return config.calls_per_plan
    return getattr(config, "num_inference_steps", None)


def _dataset_context(pretrained: Path, dataset: str | Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dataset sidecar (task, observations, controller, demo seeds) and the load_policy checks
    (features, stats) for `dataset`, else the sidecar copied into the checkpoint."""
    from simreal.datasets import open_dataset, read_simreal_meta

    if dataset is not None:
        meta = open_dataset(dataset).meta
        return read_simreal_meta(dataset), {"features": meta.features, "stats": meta.stats}
    copied = pretrained / DATASET_META
    if copied.is_file():
        return json.loads(copied.read_text()), {}
    # Not guessed from --task: the observation config and action space (controller) would be guesses.
    raise UserError(
        f"{pretrained} records no training dataset ({DATASET_META}): pass --dataset with the dataset "
        "it was trained on"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="run directory (uses checkpoints/last), checkpoint directory or pretrained_model directory",
    )
    parser.add_argument("--task", help="task to evaluate in (default: the task of the training dataset)")
    parser.add_argument(
        "--dataset",
        metavar="DS",
        help="the dataset the checkpoint was trained on: its task, observations, controller and demo "
        "seeds, and the checkpoint must fit its features and statistics (needed for lerobot-train "
        "checkpoints, which record no dataset)",
    )
    parser.add_argument("--episodes", type=int, default=50, help="number of evaluation episodes (default 50)")
    parser.add_argument(
        "--seed-start",
        type=int,
        default=DEFAULT_EVAL_SEED_START,
        help=f"seed of the first episode; episode i uses seed-start + i (default {DEFAULT_EVAL_SEED_START})",
    )
    parser.add_argument(
        "--skip-demo-seeds",
        action="store_true",
        help="step over demonstration seeds instead of refusing an overlapping seed range",
    )
    parser.add_argument("--video", metavar="DIR", help="write MP4s of the first few episodes into DIR")
    parser.add_argument(
        "--videos", type=int, default=3, help="how many episodes to film with --video (default 3)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="episodes run in this many parallel processes (default 1)"
    )
    parser.add_argument("--max-steps", type=int, help="episode limit in control steps (default: the task's)")
    parser.add_argument(
        "--inference-steps",
        type=int,
        help="network calls per action chunk (meanflow, diffusion) or per planning call (streaming: "
        "at most the noise levels a call crosses, 50 with SDP's settings; fewer take several levels "
        "at once), replacing the checkpoint's (default: the checkpoint's; meanflow's 1 is MP1's "
        "one-step sampling; LeRobot diffusion's num_inference_steps)",
    )
    parser.add_argument(
        "--action-steps",
        type=int,
        help="actions executed from each chunk before planning again (meanflow, diffusion), replacing "
        "the checkpoint's n_action_steps (default: the checkpoint's); fewer re-plan more often",
    )
    parser.add_argument(
        "--json", metavar="OUT", help="write the full result (per-episode rows included) as JSON to OUT"
    )


def run(args: argparse.Namespace) -> int:
    result = evaluate(
        args.checkpoint,
        episodes=args.episodes,
        seed_start=args.seed_start,
        task=args.task,
        workers=args.workers,
        video_dir=args.video,
        videos=args.videos,
        skip_demo_seeds=args.skip_demo_seeds,
        max_steps=args.max_steps,
        inference_steps=args.inference_steps,
        action_steps=args.action_steps,
        dataset=args.dataset,
    )
    low, high = result["success_ci95"]
    latency = result["latency_ms"]
    print(
        f"{result['task']}: success {result['successes']}/{result['episodes']} "
        f"= {result['success_rate']:.1%} "
        f"(95% CI {low:.1%}-{high:.1%}), mean length {result['episode_length']['mean']:.0f} steps, "
        f"latency p50 {latency['p50']:.1f} ms / p99 {latency['p99']:.1f} ms"
    )
    progress = result["final_progress"]
    if progress["failed_mean"] is not None:
        ended = ", ".join(f"{name} {value:.3g}" for name, value in result["failed_outcome_mean"].items())
        print(
            f"failed episodes ended at {progress['failed_mean']:.0%} task progress on average "
            f"(peak {progress['failed_peak_mean']:.0%})" + (f"; mean {ended}" if ended else "")
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0
