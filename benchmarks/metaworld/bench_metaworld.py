"""Meta-World v3 benchmark: expert demos -> simreal meanflow / diffusion (DP3 encoder) -> success.

Runs in the Meta-World venv (.venv-metaworld, mujoco 3.3.0; see setup.sh):

    MUJOCO_GL=egl .venv-metaworld/bin/python benchmarks/metaworld/bench_metaworld.py [--quick]

Per task: 10 scripted demos (seeds 0..), DP3 point clouds (corner2 depth, workspace crop, 512 FPS
points) + agent state, written as a LeRobot dataset; per head: `simreal.train.train` on CPU; then
success over held-out seeds (100000..) at the last checkpoint, and at every saved checkpoint for
the DP3/MP1 protocol number (mean of the top-k success rates over checkpoints, a max over
training). Prints a table and writes benchmarks/results/metaworld.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mujoco
import numpy as np
import torch
from demos import collect_demos
from mw_env import MetaWorldTask
from published import PUBLISHED
from tqdm import tqdm

from simreal.evaluate import wilson_interval
from simreal.policies import load_policy
from simreal.training.config import TrainConfig

RESULTS = Path(__file__).resolve().parents[1] / "results" / "metaworld.json"
EVAL_SEED_START = 100_000  # demos use seeds from 0: evaluation never sees a demo's layout

# DP3/MP1 settings on the CPU-sized U-Net (simreal preset "small" = down_dims 64,128,256).
HEAD_SETTINGS = {
    # MP1: horizon 4, T_o 2, 1-NFE; simreal's meanflow executes the 3 actions from the current step.
    "meanflow": {},
    # DP3: horizon 16, T_o 2, T_a 8, DDIM with 10 inference steps, sample prediction.
    "diffusion": dict(
        horizon=16, n_action_steps=8, prediction_type="sample", sampler="DDIM", num_inference_steps=10
    ),
}


def evaluate(task: MetaWorldTask, checkpoint: Path, episodes: int, max_steps: int) -> dict:
    """Success of the policy at `checkpoint` over seeds EVAL_SEED_START.. (each episode ends at
    success or after `max_steps` env steps). Latency is one policy call in ms."""
    runner = load_policy(checkpoint, device="cpu", features=task.features)
    successes, lengths, latencies = 0, [], []
    for seed in range(EVAL_SEED_START, EVAL_SEED_START + episodes):
        runner.reset()
        obs = task.reset(seed)
        success, steps = False, 0
        while steps < max_steps and not success:
            started = time.perf_counter()
            action = runner(obs)
            latencies.append(time.perf_counter() - started)
            obs, success = task.step(action)
            steps += 1
        successes += success
        lengths.append(steps)
    low, high = wilson_interval(successes, episodes)
    return {
        "episodes": episodes,
        "successes": successes,
        "success_rate": successes / episodes,
        "success_ci95": [low, high],
        "mean_length": float(np.mean(lengths)),
        "latency_ms_p50": 1e3 * float(np.median(latencies)),
        "latency_ms_p95": 1e3 * float(np.percentile(latencies, 95)),  # includes the chunk inferences
    }


def train_head(head: str, dataset: Path, out: Path, args: argparse.Namespace) -> dict:
    """Train `head` on `dataset` into `out`; returns timing and the final loss."""
    from simreal.train import train

    config = TrainConfig(
        policy=head,
        dataset=str(dataset),
        out=str(out),
        obs=("state", "pointcloud"),
        preset="small",
        steps=args.steps,
        batch_size=args.batch_size,
        device="cpu",
        seed=args.seed,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        save_every=max(args.steps // args.checkpoints, 1),
        threads=args.threads,
        processes=args.processes,
        policy_overrides=HEAD_SETTINGS[head],
    )
    result = train(config)
    return {
        "steps": result.step,
        "wall_s": result.wall_s,
        "final_loss": float(np.mean(result.losses[-20:])),
        "samples_per_s": result.samples_per_s,
    }


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, pretrained_model dir) of every saved checkpoint, oldest first."""
    found = []
    for path in (run_dir / "checkpoints").iterdir():
        if path.name.isdigit():
            found.append((int(path.name), path / "pretrained_model"))
    return sorted(found)


def run_task(name: str, args: argparse.Namespace, work: Path) -> dict:
    task = MetaWorldTask(name, num_points=args.num_points)
    try:
        started = time.perf_counter()
        dataset = work / name / "dataset"
        demos = collect_demos(task, dataset, args.demos)
        demos["wall_s"] = time.perf_counter() - started
        record = {"demos": demos, "heads": {}}
        for head in args.heads:
            run_dir = work / name / head
            training = train_head(head, dataset, run_dir, args)
            ckpts = checkpoints(run_dir)
            started = time.perf_counter()
            last = evaluate(task, ckpts[-1][1], args.eval_episodes, args.max_steps)
            per_ckpt = {ckpts[-1][0]: last["success_rate"]}
            for step, path in ckpts[:-1] if args.checkpoints > 1 else []:
                per_ckpt[step] = evaluate(task, path, args.eval_episodes, args.max_steps)["success_rate"]
            rates = sorted(per_ckpt.values(), reverse=True)
            top = rates[: args.top_k]
            record["heads"][head] = {
                "train": training,
                "last": last,
                "success_by_step": {str(k): per_ckpt[k] for k in sorted(per_ckpt)},
                "protocol_top_k": len(top),
                "protocol_success": float(np.mean(top)),
                "eval_wall_s": time.perf_counter() - started,
            }
            tqdm.write(
                f"{name:>16} {head:>9}: last {last['success_rate']:.2f} "
                f"(CI {last['success_ci95'][0]:.2f}-{last['success_ci95'][1]:.2f}), "
                f"protocol {np.mean(top):.2f}, train {training['wall_s']:.0f}s"
            )
        return record
    finally:
        task.close()


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15min": list(os.getloadavg()),  # the machine is shared: timings depend on it
    }


def print_table(results: dict) -> None:
    print(f"\n{'task':>16} {'head':>9} {'last':>6} {'95% CI':>11} {'protocol':>9} {'train s':>8}")
    for name, record in results["tasks"].items():
        for head, r in record["heads"].items():
            low, high = r["last"]["success_ci95"]
            print(
                f"{name:>16} {head:>9} {r['last']['success_rate']:>6.2f} {low:>5.2f}-{high:<5.2f} "
                f"{r['protocol_success']:>9.2f} {r['train']['wall_s']:>8.0f}"
            )
    paper = results["published"]
    print(
        f"published (v2, max over checkpoints): MP1 {paper['mp1_mean_37_tasks']:.3f} and "
        f"DP3 {paper['dp3_mean_37_tasks']:.3f} over 37 tasks; DP3 Meta-World easy group "
        f"{paper['dp3_metaworld_easy_mean']:.3f}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--tasks",
        default="reach,button-press,drawer-open,window-open,plate-slide",
        help="comma-separated Meta-World v3 task names (without -v3)",
    )
    parser.add_argument("--heads", default="meanflow,diffusion", help="simreal heads to train")
    parser.add_argument("--demos", type=int, default=10, help="expert demos per task (DP3/MP1: 10)")
    parser.add_argument("--steps", type=int, default=800, help="optimiser steps per task x head")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per step")
    parser.add_argument(
        "--processes", type=int, default=1, help="data-parallel training processes (train --processes)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads per training process (0: torch's default)"
    )
    parser.add_argument("--lr", type=float, default=3e-4, help="peak AdamW learning rate")
    parser.add_argument("--warmup-steps", type=int, default=100, help="linear warm-up steps")
    parser.add_argument("--checkpoints", type=int, default=2, help="checkpoints saved (and evaluated)")
    parser.add_argument("--top-k", type=int, default=5, help="protocol: mean of the top-k checkpoint rates")
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes per evaluation")
    parser.add_argument("--max-steps", type=int, default=200, help="env steps per evaluation episode")
    parser.add_argument("--num-points", type=int, default=512, help="points per cloud (FPS)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--work", default="outputs/metaworld", help="datasets and runs go here (replaced)")
    parser.add_argument("--out", default=str(RESULTS), help="results JSON")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 task, 2 demos, 20 steps, 2 episodes of 50 steps"
    )
    args = parser.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.heads = [h for h in args.heads.split(",") if h]
    if args.quick:
        args.tasks, args.demos, args.steps, args.checkpoints = args.tasks[:1], 2, 20, 1
        args.eval_episodes, args.max_steps, args.batch_size = 2, 50, 16
        args.out = str(Path(args.out).with_name("metaworld_quick.json"))
        args.work = f"{args.work}_quick"
    return args


def main(argv: list[str] | None = None) -> int:
    import shutil

    args = parse_args(argv)
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    started = time.perf_counter()
    results = {
        "benchmark": "metaworld",
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "work")}
        | {"head_overrides": HEAD_SETTINGS, "preset": "small (U-Net 64,128,256)", "camera": "corner2"},
        "published": PUBLISHED,
        "tasks": {},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for name in args.tasks:  # written after every task: an interrupted sweep keeps what it finished
        results["tasks"][name] = run_task(name, args, work)
        results["wall_s"] = time.perf_counter() - started
        for head in args.heads:
            rates = [r["heads"][head] for r in results["tasks"].values()]
            results[f"mean_{head}"] = {
                "last": float(np.mean([r["last"]["success_rate"] for r in rates])),
                "protocol": float(np.mean([r["protocol_success"] for r in rates])),
            }
        Path(args.out).write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"wrote {args.out} ({results['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
