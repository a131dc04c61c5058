"""simreal's `diffusion` head beside LeRobot's own `diffusion` policy on the same simreal dataset:
training time, held-out success and latency per action chunk, in one run.

The dataset: scripted pick_place demos with image observations (state + the RGB cameras of
--cameras) and absolute TCP-pose actions (`simreal collect --task pick_place --obs state,rgb --cameras
front --controller ee_pose`), collected once into --workdir and reused. With several cameras each has
its own image encoder in both policies. simreal's head trains with `simreal.train`,
LeRobot's with LeRobot's own `lerobot-train --policy.type=diffusion` (offline: no ImageNet backbone,
dataset image statistics), with the same batch size, steps, learning rate and warm-up, horizon,
observation and action steps, U-Net widths, DDPM noise schedule (100 training timesteps) and
prediction type (--prediction-type). Both are evaluated by `simreal.evaluate` on the same held-out
seeds (the sampler of --sampler, DDIM-10 by default), then timed per chunk at batch 1 on one real
observation, alternating the two policies, with DDPM-100 and DDIM-10 sampling (both train on the same
noise schedule, so one network serves both samplers). The settings that differ between the two are
listed in the JSON ("differences").

    .venv/bin/python benchmarks/bench_lerobot_diffusion.py            # ~30 min on the idle 2-core VM
    .venv/bin/python benchmarks/bench_lerobot_diffusion.py --demos 100 --steps 1000 --episodes 100
    .venv/bin/python benchmarks/bench_lerobot_diffusion.py --side-by-side --train-threads 1 --steps 3000
    .venv/bin/python benchmarks/bench_lerobot_diffusion.py --cameras front,wrist --batch-size 64 --amp \
        --prediction-type sample --demos 100 --steps 2000 --lr 1e-3 --side-by-side --train-threads 1
    .venv/bin/python benchmarks/bench_lerobot_diffusion.py --quick    # smoke run (3 demos, 4 steps)
Writes benchmarks/results/lerobot_diffusion.json (quick runs: lerobot_diffusion_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, machine_info

ROOT = Path(__file__).resolve().parent.parent
LEROBOT_TRAIN = Path(sys.executable).with_name("lerobot-train")
POLICIES = ("simreal", "lerobot")
LATENCY_SAMPLERS = (("DDPM", 100), ("DDIM", 10))
DIFFERENCES = [
    "optimizer: simreal AdamW (decoupled weight decay 1e-6); LeRobot Adam (weight decay 1e-6 as L2)",
    "EMA: simreal's loop keeps an EMA of the weights (ema_max_decay 0 here, i.e. raw weights, unless "
    "--ema); lerobot-train has none",
    "state encoding: simreal embeds the state with an MLP to 64 per step; LeRobot feeds the raw "
    "15-D state into the U-Net condition (images: GroupNorm ResNet-18, spatial softmax with 32 "
    "keypoints, linear + ReLU to 64 in both)",
    "random crop in training: simreal crops each image at its own place; LeRobot (torchvision "
    "RandomCrop on the batch) at one place per batch; both crop the centre at evaluation",
    "U-Net: Chi et al.'s conditional 1-D U-Net with FiLM in both, each its own implementation "
    "(parameter counts in 'parameters')",
    "data loading: simreal's TrainingWindows vs LeRobotDataset with LeRobot's episode-aware sampler "
    "(same windows; drop_n_last_frames = horizon - n_action_steps - n_obs_steps + 1 in both)",
    "use_amp (--amp): simreal runs its image backbones under bfloat16 autocast (the spatial softmax, "
    "U-Net and loss in float32); lerobot-train runs the whole forward pass under Accelerate's bfloat16 "
    "autocast, and simreal's runner evaluates and times it as lerobot-eval would, the whole call under "
    "autocast",
    "wall time: lerobot-train runs in its own process, so its wall time includes interpreter "
    "start-up and imports; loop samples/s leave start-up and checkpointing out for both",
]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demos", type=int, default=50, help="scripted pick_place demos (default 50)")
    p.add_argument("--image-size", type=int, default=96, help="square camera image, pixels (default 96)")
    p.add_argument(
        "--cameras", default="front", help="RGB cameras, comma-separated (default front; e.g. front,wrist)"
    )
    p.add_argument("--steps", type=int, default=600, help="training steps of each policy (default 600)")
    p.add_argument("--batch-size", type=int, default=32, help="samples per step, both (default 32)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate, both (default 1e-4)")
    p.add_argument("--warmup-steps", type=int, default=500, help="warm-up steps, capped at steps/10")
    p.add_argument("--down-dims", default="64,128,256", help="U-Net widths, both (default 64,128,256)")
    p.add_argument("--horizon", type=int, default=16, help="action window (default 16)")
    p.add_argument("--n-obs-steps", type=int, default=2, help="observation history (default 2)")
    p.add_argument("--n-action-steps", type=int, default=8, help="actions executed per chunk (default 8)")
    p.add_argument(
        "--prediction-type",
        choices=("epsilon", "sample"),
        default="epsilon",
        help="what the U-Net predicts, both (default epsilon, Diffusion Policy's; sample is DP3's)",
    )
    p.add_argument(
        "--amp", action="store_true", help="use_amp in both: bfloat16 autocast (see differences in the JSON)"
    )
    p.add_argument("--ema", action="store_true", help="keep simreal's EMA of the weights (LeRobot has none)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers in training, both")
    p.add_argument("--train-threads", type=int, default=2, help="torch threads in training (default 2)")
    p.add_argument("--seed", type=int, default=0, help="training seed, both")
    p.add_argument(
        "--side-by-side",
        action="store_true",
        help="train the two at the same time (one process each; give each --train-threads 1 on 2 cores)",
    )
    p.add_argument("--sampler", choices=("DDIM", "DDPM"), default="DDIM", help="sampler at evaluation")
    p.add_argument(
        "--inference-steps", type=int, default=10, help="sampling steps at evaluation (default 10)"
    )
    p.add_argument("--episodes", type=int, default=50, help="held-out evaluation episodes each (default 50)")
    p.add_argument("--workers", type=int, default=2, help="evaluation processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads in the latency loop (default 1)")
    p.add_argument("--repeats", type=int, default=20, help="timed chunks per policy and sampler (default 20)")
    p.add_argument(
        "--max-seconds", type=float, default=120.0, help="stop timing a sampler after this (>= 3 samples)"
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / "outputs" / "bench" / "lerobot_diffusion",
        help="dataset (reused) and the two training runs (replaced on every invocation)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 3 demos, 4 steps, 2 episodes")
    p.add_argument("--out", type=Path, help="JSON output (default results/lerobot_diffusion[_quick].json)")
    args = p.parse_args(argv)
    args.out = args.out or RESULTS / f"lerobot_diffusion{'_quick' if args.quick else ''}.json"
    if args.quick:
        args.demos, args.steps, args.batch_size, args.episodes, args.repeats = 3, 4, 8, 2, 3
        args.down_dims = "16,32"
        args.workdir = args.workdir.with_name(args.workdir.name + "_quick")
    args.down_dims = [int(d) for d in args.down_dims.split(",")]
    args.cameras = tuple(c for c in args.cameras.split(",") if c)
    if not args.cameras:
        p.error("--cameras: name at least one camera")
    args.warmup = min(args.warmup_steps, args.steps // 10)  # what simreal's TrainConfig uses
    return args


def demo_dataset(args) -> Path:
    """pick_place demos (state + --cameras, ee_pose actions), collected or topped up to --demos; each
    count has its own dataset, so that topping one up never changes what another count's runs train on."""
    from simreal.collect import CollectConfig, collect_up_to
    from simreal.sim import ObservationConfig

    path = args.workdir / f"pick_place_{'-'.join(args.cameras)}{args.image_size}_ee_pose_{args.demos}demos"
    size = (args.image_size, args.image_size)
    obs = ObservationConfig(cameras=args.cameras, pointcloud=False, image_size=size)
    collect_up_to(CollectConfig("pick_place", args.demos, path, obs, controller="ee_pose"))
    return path


def fresh_run_dir(args, name: str) -> Path:
    path = args.workdir / "runs" / name
    shutil.rmtree(path, ignore_errors=True)
    return path


def train_simreal(args, dataset: Path) -> tuple[Path, dict]:
    """simreal's diffusion head through `simreal.train`; (pretrained_model dir, timing)."""
    import torch

    from simreal.train import train
    from simreal.training.config import TrainConfig

    run = fresh_run_dir(args, "simreal_diffusion")
    config = TrainConfig(
        policy="diffusion",
        dataset=str(dataset),
        out=str(run),
        obs=("state", "rgb"),
        steps=args.steps,
        batch_size=args.batch_size,
        device="cpu",
        seed=args.seed,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        num_workers=args.num_workers,
        ema_max_decay=0.9999 if args.ema else 0.0,
        policy_overrides={
            "horizon": args.horizon,
            "n_obs_steps": args.n_obs_steps,
            "n_action_steps": args.n_action_steps,
            "down_dims": args.down_dims,
            "num_train_timesteps": 100,
            "prediction_type": args.prediction_type,
            "sampler": args.sampler,
            "num_inference_steps": args.inference_steps,
            "use_amp": args.amp,
        },
    )
    torch.set_num_threads(args.train_threads)
    result = train(config)
    timing = {"wall_s": result.wall_s, "loop_samples_per_s": result.samples_per_s}
    return run / "checkpoints" / "last" / "pretrained_model", timing


def lerobot_train_command(args, dataset: Path, out: Path) -> list[str]:
    """LeRobot's own training entry point with the shared settings (offline, no ImageNet weights)."""
    crop = round(args.image_size * 0.9)  # simreal's image_crop_ratio 0.9
    drop = args.horizon - args.n_action_steps - args.n_obs_steps + 1
    return [
        str(LEROBOT_TRAIN),
        "--policy.type=diffusion",
        "--policy.push_to_hub=false",
        "--policy.device=cpu",
        "--policy.pretrained_backbone_weights=null",
        "--policy.use_group_norm=true",
        f"--policy.crop_shape=[{crop},{crop}]",
        "--policy.use_separate_rgb_encoder_per_camera=true",  # as simreal's: one encoder per camera
        f"--policy.horizon={args.horizon}",
        f"--policy.n_obs_steps={args.n_obs_steps}",
        f"--policy.n_action_steps={args.n_action_steps}",
        f"--policy.drop_n_last_frames={drop}",
        f"--policy.down_dims=[{','.join(map(str, args.down_dims))}]",
        "--policy.num_train_timesteps=100",
        f"--policy.prediction_type={args.prediction_type}",
        f"--policy.noise_scheduler_type={args.sampler}",
        f"--policy.num_inference_steps={args.inference_steps}",
        f"--policy.optimizer_lr={args.lr}",
        f"--policy.use_amp={str(args.amp).lower()}",
        f"--policy.scheduler_warmup_steps={args.warmup}",
        "--dataset.use_imagenet_stats=false",
        f"--dataset.repo_id=simreal/{dataset.name}",
        f"--dataset.root={dataset}",
        f"--output_dir={out}",
        f"--steps={args.steps}",
        f"--batch_size={args.batch_size}",
        f"--num_workers={args.num_workers}",
        f"--seed={args.seed}",
        f"--log_freq={log_freq(args.steps)}",
        f"--save_freq={args.steps}",
        "--wandb.enable=false",
    ]


def log_freq(steps: int) -> int:
    """The largest divisor of `steps` up to 10: every step is in exactly one logged average."""
    return max(d for d in range(1, min(steps, 10) + 1) if steps % d == 0)


def lerobot_log(run: Path) -> Path:
    """Where `lerobot-train`'s output for `run` goes: beside the run, which lerobot-train creates."""
    return run.parent / "lerobot_train.log"


def start_lerobot(args, dataset: Path) -> tuple[subprocess.Popen, Path, float]:
    """Start LeRobot's diffusion through `lerobot-train`, its output going to lerobot_log(run);
    (process, run dir, start time)."""
    run = fresh_run_dir(args, "lerobot_diffusion")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "disabled",
        "OMP_NUM_THREADS": str(args.train_threads),
    }
    run.parent.mkdir(parents=True, exist_ok=True)
    log = lerobot_log(run).open("w")
    started = time.perf_counter()
    proc = subprocess.Popen(
        lerobot_train_command(args, dataset, run), stdout=log, stderr=subprocess.STDOUT, text=True, env=env
    )
    log.close()
    return proc, run, started


def finish_lerobot(args, proc: subprocess.Popen, run: Path, started: float) -> tuple[Path, dict]:
    """Wait for `lerobot-train`; (pretrained_model dir, timing). The loop rate comes from its log: each
    line averages update and data seconds over the last log_freq steps."""
    returncode = proc.wait()
    wall_s = time.perf_counter() - started
    log = lerobot_log(run).read_text()
    if returncode != 0:
        raise SystemExit(f"lerobot-train failed:\n{log[-3000:]}")
    steps_s = [float(u) + float(d) for u, d in re.findall(r"updt_s:([\d.]+) data_s:([\d.]+)", log)]
    loop_s = log_freq(args.steps) * sum(steps_s)
    timing = {"wall_s": wall_s, "loop_samples_per_s": args.steps * args.batch_size / loop_s}
    return run / "checkpoints" / "last" / "pretrained_model", timing


def train_both(args, dataset: Path) -> tuple[dict[str, Path], dict[str, dict]]:
    """Train the two policies one after the other, or at the same time with --side-by-side (simreal in
    this process, lerobot-train in its own); (pretrained_model dirs, timings)."""
    checkpoints, timings = {}, {}
    if args.side_by_side:
        lerobot = start_lerobot(args, dataset)
        checkpoints["simreal"], timings["simreal"] = train_simreal(args, dataset)
        checkpoints["lerobot"], timings["lerobot"] = finish_lerobot(args, *lerobot)
    else:
        checkpoints["simreal"], timings["simreal"] = train_simreal(args, dataset)
        checkpoints["lerobot"], timings["lerobot"] = finish_lerobot(args, *start_lerobot(args, dataset))
    return checkpoints, timings


def use_sampler(runner, sampler: str, steps: int) -> None:
    """Switch a loaded policy to `sampler` with `steps` network calls per chunk (weights unchanged)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    from simreal.policies import SimrealPolicyConfig

    if isinstance(runner.config, SimrealPolicyConfig):
        runner.policy.set_sampler(sampler, steps)
        return
    model = runner.policy.diffusion
    scheduler = DDIMScheduler if sampler == "DDIM" else DDPMScheduler
    model.noise_scheduler = scheduler.from_config(model.noise_scheduler.config)
    model.num_inference_steps = steps


def time_chunks(runners: dict, obs: dict, args) -> dict[str, list[float]]:
    """Seconds per predict_chunk of each runner, alternating which goes first, after one warm-up each."""
    for runner in runners.values():
        runner.predict_chunk(obs)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(args.repeats):
        order = list(runners) if i % 2 == 0 else list(reversed(runners))
        for name in order:
            start = time.perf_counter()
            runners[name].predict_chunk(obs)
            times[name].append(time.perf_counter() - start)
        if i >= 2 and sum(map(sum, times.values())) > args.max_seconds:
            break
    return times


def latency(checkpoints: dict[str, Path], dataset: Path, args) -> dict:
    """Chunk latency at batch 1 of both policies on one real observation, per sampler, side by side."""
    import numpy as np
    import torch

    from simreal.datasets import read_simreal_meta
    from simreal.policies import load_policy
    from simreal.rollout import DEFAULT_EVAL_SEED_START, make_task_env

    torch.set_num_threads(args.threads)
    env = make_task_env(read_simreal_meta(dataset))
    obs, _ = env.reset(seed=DEFAULT_EVAL_SEED_START)
    env.close()
    runners = {name: load_policy(path, "cpu") for name, path in checkpoints.items()}
    out = {}
    for sampler, steps in LATENCY_SAMPLERS:
        for runner in runners.values():
            use_sampler(runner, sampler, steps)
        rows = {}
        for name, times in time_chunks(runners, obs, args).items():
            ms = 1e3 * np.array(times)
            rows[name] = {
                "samples": len(ms),
                "chunk_ms_p50": float(np.percentile(ms, 50)),
                "chunk_ms_p99": float(np.percentile(ms, 99)),
                "action_ms_p50": float(np.percentile(ms, 50)) / args.n_action_steps,
            }
        rows["lerobot_over_simreal_p50"] = rows["lerobot"]["chunk_ms_p50"] / rows["simreal"]["chunk_ms_p50"]
        out[f"{sampler.lower()}_{steps}"] = rows
    out["torch_threads"] = torch.get_num_threads()
    out["parameters"] = {name: sum(p.numel() for p in r.policy.parameters()) for name, r in runners.items()}
    return out


def success(checkpoint: Path, dataset: Path, args) -> dict:
    from simreal.evaluate import evaluate

    result = evaluate(
        checkpoint, episodes=args.episodes, workers=args.workers, skip_demo_seeds=True, dataset=dataset
    )
    keys = ("episodes", "successes", "success_rate", "success_ci95", "episode_length", "latency_ms")
    keys += ("final_progress", "failed_outcome_mean", "seeds", "inference_steps", "wall_s")
    return {k: result[k] for k in keys}


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    if not LEROBOT_TRAIN.exists():
        raise SystemExit(f"{LEROBOT_TRAIN} is missing: install lerobot into this venv")
    started = time.perf_counter()
    dataset = demo_dataset(args)
    checkpoints, timings = train_both(args, dataset)
    rows = {}
    for name, timing in timings.items():
        timing["samples_per_s"] = args.steps * args.batch_size / timing["wall_s"]
        rows[name] = {"checkpoint": str(checkpoints[name]), "train": timing}
    for name, path in checkpoints.items():
        rows[name]["eval"] = success(path, dataset, args)
    timings = latency(checkpoints, dataset, args)
    result = {
        "benchmark": "lerobot_diffusion",
        "quick": args.quick,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "dataset": str(dataset),
        "lerobot_train_command": lerobot_train_command(args, dataset, Path("RUN"))[1:],
        "differences": DIFFERENCES,
        "policies": rows,
        "latency": timings,
        "wall_s": time.perf_counter() - started,
        "machine": machine_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_table(result)
    print(f"wrote {args.out}")
    return 0


def print_table(result: dict) -> None:
    print(
        "| policy | success | 95% CI | train wall s | samples/s (wall / loop) | eval latency p50 / p99 ms |"
    )
    print("|---|---|---|---|---|---|")
    for name, row in result["policies"].items():
        ev, tr = row["eval"], row["train"]
        low, high = ev["success_ci95"]
        print(
            f"| {name} | {ev['successes']}/{ev['episodes']} | {low:.0%}-{high:.0%} | {tr['wall_s']:.0f} | "
            f"{tr['samples_per_s']:.1f} / {tr['loop_samples_per_s']:.1f} | "
            f"{ev['latency_ms']['p50']:.1f} / {ev['latency_ms']['p99']:.1f} |"
        )
    print("| sampler | simreal chunk p50 / p99 ms | LeRobot chunk p50 / p99 ms | LeRobot / simreal |")
    print("|---|---|---|---|")
    for sampler, steps in LATENCY_SAMPLERS:
        rows = result["latency"][f"{sampler.lower()}_{steps}"]
        cells = [f"{rows[n]['chunk_ms_p50']:.1f} / {rows[n]['chunk_ms_p99']:.1f}" for n in POLICIES]
        print(f"| {sampler}-{steps} | {cells[0]} | {cells[1]} | {rows['lerobot_over_simreal_p50']:.2f}x |")


if __name__ == "__main__":
    raise SystemExit(main())
