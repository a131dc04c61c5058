"""`simreal demo` (what `make demo` runs): the pipeline end to end on the default task, step by step.

Each step is a function `(args, run) -> StepResult` in `STEPS`, run in order; a step reads what
earlier steps left in `run.outputs`: collect a dataset with the scripted expert, validate it, replay
an episode (determinism check + video), train a MeanFlow point-cloud policy, evaluate it on held-out
seeds (success with a 95% interval, latency, videos), and run it over ROS 2 (the sim robot node and the
policy node exchanging messages over DDS) on the first of those seeds.

The defaults are sized for the demo's time budget (20 minutes on 2 CPU cores): 200 demonstrations
with absolute TCP-pose actions (ee_pose) and 128-point coloured clouds, MeanFlow with a 32-64-128 U-Net
for 3000 steps, sampled in DEMO_MEANFLOW_STEPS network calls. Measured on this project's 2-core VM
(2026-12-04, `time make demo`, idle, a VM whose torch kernels dispatch AVX2, the slower of the two
seen): 17 min 36 s in all (training 758 s on two one-thread data-parallel processes, collection on two
workers), 81% held-out success (81/100, 95% CI 72-87%), 12/20 over ROS; demo seed 1: 17 min 43 s,
70/100; on a VM dispatching AVX512: 15 min 14 s, 80/100 (seed 1: 73/100). Training is deterministic on
one machine and the evaluation's noise is seeded, so a re-run repeats those figures; the ten draws of
that recipe at lr 1e-3 averaged 77%. At lr 3e-3 (DEMO_LR) four draws average 80.8%, and `time make demo`
on the AVX512 VM took 11 min 40 s for 87/100 (ROS 16/20). With the point cloud scaled per channel
(2026-12-05, see DEMO_HEAD_POLICY) `time make demo` took 10 min 46 s for 83/100 (ROS 19/20), and with the
scene shift (DEMO_SHIFT_AUGMENT) on the same demonstrations 10 min 51 s for 90/100 (ROS 17/20). With 100
demonstrations the same recipe scored 74/100, with 300 159/200; on 100 with 256 points, 3000 steps:
4-step sampling 23/30 held-out, one step 12/30; 1500 steps: 8/20 vs 2/20.
Joint-position actions never succeeded at this budget (0/20 after 3000 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simreal.collect import add_sensor_arguments
from simreal.errors import UserError

# The demo's policy: 2 observation steps, horizon 16, 8 actions executed per chunk (receding
# horizon); with --config small the U-Net is narrowed to DEMO_SMALL_UNET channels for CPU speed.
DEMO_POLICY: dict[str, object] = {"n_obs_steps": 2, "horizon": 16, "n_action_steps": 8}
# Per head: MeanFlow samples in DEMO_MEANFLOW_STEPS network calls (one call is MP1's setting; within
# the demo's training budget a few calls place the grasp far more precisely, see the module docstring)
# and trains without condition dropout (guidance 1 never uses the null condition); diffusion predicts
# the clean sample (DP3's setting; epsilon prediction scored 17/100 where sample scored 79/100 on the
# demo's data) and samples with DDIM-10 instead of DDPM-100; streaming also predicts the sample and
# spans two chunks after the past steps (horizon 20), so its rolling buffer is more than one chunk.
# The heads see the point cloud min-max scaled per channel (xyz and colour to [-1, 1]; DP3
# feeds raw metres): pick_place, 100 demos, MeanFlow 72 -> 87/100, diffusion 75 -> 80; MeanFlow on make
# demo datasets 0-3, one training process, 81/75/72/76 -> 91/74/90/84, and on two processes (make demo's)
# seeds 0/2/3 87/76/86 -> 83/90/80; push_t diffusion (9000 steps) 22 -> 33. One training draw per cell
# (benchmarks/results/policy_success.json). Streaming scales it too since the scene shift below: with
# the shift, raw metres 84/76 and scaled 92/94/78 on training seeds 0/1/2 (without: 82 raw, 76 scaled).
DEMO_MEANFLOW_STEPS = 4
DEMO_HEAD_POLICY: dict[str, dict[str, object]] = {
    "meanflow": {
        "num_inference_steps": DEMO_MEANFLOW_STEPS,
        "cond_dropout": 0.0,
        "normalize_pointcloud": True,
    },
    "diffusion": {
        "sampler": "DDIM",
        "num_inference_steps": 10,
        "prediction_type": "sample",
        "normalize_pointcloud": True,
    },
    "streaming": {"horizon": 20, "prediction_type": "sample", "normalize_pointcloud": True},
}
# Control steps the expert records after the task succeeds, per head. Streaming needs them to learn
# pick_place's release (1/100 without, 83/100 with 10); MeanFlow does better without (82/100 against
# 69/100) and diffusion does not care (79 against 76), so the others collect episodes that end at success.
DEMO_POST_SUCCESS_STEPS = {"meanflow": 0, "diffusion": 0, "streaming": 10}
DEMO_SMALL_UNET = [32, 64, 128]
# Scene shift (training.augment): each training window's cloud, TCP and action x/y moved by one offset
# of up to 4 cm. pick_place, 100 demos, training seeds 0-2: MeanFlow 87/71/85 -> 89/90/92 of 100,
# diffusion 80/82/82 -> 90/94/88, streaming (raw metres) 82/63/52 -> 84/76 (scaled: 92/94/78); with the
# shift, seeds 3/4 gave 92/78, 77/90, 85/72 (five-seed means 88.2, 87.8, 84.2);
# benchmarks/results/policy_success.json, cells pick_place/*/pointcloud_*shift4cm*. Used where it
# applies: TCP-pose actions, no camera image and a task whose goal is in the scene (not push_t).
DEMO_SHIFT_AUGMENT = 0.04
# Peak lr 3e-3: on four demo datasets (seeds 0-3) the same training draws scored 87, 74, 76, 86 of 100
# against 80, 73, 72 and 81 at 1e-3 (2e-3: 82, 71 on the first two); benchmarks/results/policy_success.json,
# cells pick_place/meanflow/pointcloud_demo_s*.
DEMO_STEPS, DEMO_BATCH, DEMO_LR, DEMO_WARMUP = 3000, 64, 3e-3, 100
DEMO_EPISODES, DEMO_DATA_WORKERS = 200, 0
# The demo's U-Net is small: on 2 cores one torch thread trained at 251-268 samples/s where two gave
# 143-233 (benchmarks/results/train_threads.json), and a step costs a fixed ~135 ms plus ~5 ms per
# sample, so two one-thread processes with half the batch each (and no loader worker) beat one process
# by 1.0-1.5x on this noisy VM (benchmarks/results/train_processes.json).
DEMO_TRAIN_THREADS = 1
DEMO_TRAIN_PROCESSES = 2


@dataclass
class DemoRun:
    """State shared by the steps: the run directory and what each step produced."""

    root: Path
    outputs: dict[str, object] = field(default_factory=dict)


@dataclass
class StepResult:
    summary: str  # one line for the table
    path: Path | None = None  # where the step wrote its output


def step_collect(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.collect import collect, config_from_args

    cfg = config_from_args(args)
    cfg.out = run.root / "dataset"
    result = collect(cfg, progress=True)
    if result.saved < cfg.episodes:
        raise UserError(f"collected only {result.saved} of {cfg.episodes} episodes")
    run.outputs["dataset"] = cfg.out
    return StepResult(
        f"{result.saved} episodes, {result.frames} frames, expert success "
        f"{result.successes}/{result.attempts}, {result.frames_per_second:.0f} frames/s",
        cfg.out,
    )


def step_validate(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.datasets import validate_dataset

    report = validate_dataset(run.outputs["dataset"])
    report.raise_if_invalid()
    return StepResult(
        f"valid: {report.episodes} episodes, {report.frames} frames, "
        f"{report.video_frames_checked} video frames",
        run.outputs["dataset"],
    )


def step_replay(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.replay import DEFAULT_TOLERANCE, STATE_KEY, replay_episode

    video = run.root / "replay_episode0.mp4"
    result = replay_episode(run.outputs["dataset"], 0, video=video, progress=True)
    error = result.max_abs_error[STATE_KEY]
    if error > DEFAULT_TOLERANCE:
        raise UserError(f"replay diverged: max |Δ observation.state| {error:.3g} > {DEFAULT_TOLERANCE:g}")
    return StepResult(
        f"episode 0 replayed: max |Δ state| {error:.3g}, success {result.replayed_success}", video
    )


def _policy_obs(args: argparse.Namespace) -> tuple[str, ...]:
    """What the policy sees: the recorded observations it has encoders for (state, rgb, pointcloud)."""
    recorded = [t.strip() for t in args.obs.split(",")]
    return tuple(t for t in recorded if t in ("state", "rgb", "pointcloud"))


def demo_policy_settings(policy: str, preset: str) -> dict[str, object]:
    """The demo's policy settings for head `policy` (its narrow U-Net only with the small preset)."""
    unet = {"down_dims": DEMO_SMALL_UNET} if preset == "small" else {}
    return {**DEMO_POLICY, **DEMO_HEAD_POLICY[policy], **unet}


def demo_shift_augment(args: argparse.Namespace, task: str, obs: tuple[str, ...], controller: str) -> float:
    """The scene shift to train with: --shift-augment if given, else DEMO_SHIFT_AUGMENT where it
    applies (TCP-pose actions, state and point cloud only, a task whose goal is in the scene), else 0."""
    if args.shift_augment is not None:
        return args.shift_augment
    from simreal.training.augment import SHIFTABLE_OBS, task_goal_in_scene

    applies = controller == "ee_pose" and set(obs) <= SHIFTABLE_OBS and task_goal_in_scene(task)
    return DEMO_SHIFT_AUGMENT if applies else 0.0


def step_train(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.train import train
    from simreal.training.config import TrainConfig, recipe_from_args

    obs = _policy_obs(args)
    config = TrainConfig(
        policy=args.policy,
        dataset=str(run.outputs["dataset"]),
        out=str(run.root / "train"),
        obs=obs,
        **recipe_from_args(args),
        shift_augment_m=demo_shift_augment(args, args.task, obs, args.controller),
        num_workers=args.data_workers,
        policy_overrides=demo_policy_settings(args.policy, args.config),
    )
    result = train(config)
    run.outputs["run"] = result.run_dir
    return StepResult(
        f"{args.policy} ({args.config}) {result.step} steps, final loss {result.losses[-1]:.4f}, "
        f"{result.samples_per_s:.0f} samples/s",
        result.checkpoint,
    )


def step_evaluate(args: argparse.Namespace, run: DemoRun) -> StepResult:
    from simreal.evaluate import evaluate

    videos = run.root / "eval"
    summary = evaluate(
        run.outputs["run"],
        episodes=args.eval_episodes,
        skip_demo_seeds=True,
        video_dir=videos,
        videos=2,
        workers=args.eval_workers,
    )
    (run.root / "eval.json").write_text(json.dumps(summary, indent=2))
    low, high = summary["success_ci95"]
    run.outputs["success_rate"] = summary["success_rate"]
    run.outputs["eval_episodes"] = summary["per_episode"]
    return StepResult(
        f"success {summary['successes']}/{summary['episodes']} = {summary['success_rate']:.0%} "
        f"(95% CI {low:.0%}-{high:.0%}) on held-out seeds, latency p50 "
        f"{summary['latency_ms']['p50']:.1f} ms; videos: {len(summary['videos'])}",
        Path(summary["videos"][0]) if summary["videos"] else videos,
    )


def step_ros(args: argparse.Namespace, run: DemoRun) -> StepResult:
    """The trained policy driving the MuJoCo robot node over DDS (sim_robot_node + policy_node, the
    sim_policy launch graph), on the first held-out seeds the evaluate step used."""
    if args.ros_episodes == 0:
        return StepResult("skipped (--ros-episodes 0)")
    from simreal.deploy import closed_loop_episodes

    result = closed_loop_episodes(
        run.outputs["run"], episodes=args.ros_episodes, control_rate=args.ros_rate, compare_eval=False
    )
    (run.root / "ros.json").write_text(json.dumps(result, indent=2))
    ros, command = result["ros"], result["command"]
    by_seed = {e["seed"]: e["success"] for e in run.outputs.get("eval_episodes", [])}
    shared = [e for e in ros["per_episode"] if e["seed"] in by_seed]
    beside = (
        f" (simreal eval on the same {len(shared)} seeds: {sum(by_seed[e['seed']] for e in shared)})"
        if shared
        else ""
    )
    return StepResult(
        f"success over ROS 2 {ros['successes']}/{len(ros['per_episode'])}{beside}; commands "
        f"{command['command_rate_hz']:.1f} Hz (nominal {args.ros_rate:g}), period jitter p99 "
        f"{command['jitter_p99_ms']:.2f} ms",
        run.root / "ros.json",
    )


STEPS: list[tuple[str, Callable[[argparse.Namespace, DemoRun], StepResult]]] = [
    ("collect", step_collect),
    ("validate", step_validate),
    ("replay", step_replay),
    ("train", step_train),
    ("evaluate", step_evaluate),
    ("ros", step_ros),
]


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's training recipe as options (read back by `recipe_from_args` and --data-workers),
    shared with benchmarks that train the same way."""
    parser.add_argument(
        "--config",
        choices=("tiny", "small", "paper"),
        default="small",
        help="model size preset; the demo narrows small's U-Net to 32-64-128 channels (default small)",
    )
    parser.add_argument(
        "--steps", type=int, default=DEMO_STEPS, help=f"training steps (default {DEMO_STEPS})"
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEMO_BATCH, help=f"samples per training step (default {DEMO_BATCH})"
    )
    parser.add_argument("--lr", type=float, default=DEMO_LR, help=f"peak learning rate (default {DEMO_LR:g})")
    parser.add_argument(
        "--warmup-steps",
        type=int,
        default=DEMO_WARMUP,
        help=f"linear warm-up steps, capped at steps/10 (default {DEMO_WARMUP})",
    )
    parser.add_argument(
        "--train-threads",
        type=int,
        default=DEMO_TRAIN_THREADS,
        help=f"torch CPU threads for training (default {DEMO_TRAIN_THREADS}; 0: one per core)",
    )
    parser.add_argument(
        "--train-processes",
        type=int,
        default=DEMO_TRAIN_PROCESSES,
        help=f"data-parallel training processes, each with --train-threads (default {DEMO_TRAIN_PROCESSES})",
    )
    parser.add_argument(
        "--shift-augment",
        type=float,
        metavar="METRES",
        help="scene-shift augmentation: random xy offset of up to this many metres per training window "
        f"(default {DEMO_SHIFT_AUGMENT:g} with TCP-pose actions, state and point cloud, on a task whose goal "
        "is in the scene such as pick_place; else 0, off; see simreal train --help)",
    )
    parser.add_argument(
        "--data-workers",
        type=int,
        default=DEMO_DATA_WORKERS,
        help=f"data-loading processes beside training (default {DEMO_DATA_WORKERS})",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="pick_place", help="task short name (default pick_place)")
    parser.add_argument(
        "--episodes",
        type=int,
        default=DEMO_EPISODES,
        help=f"scripted demonstrations to collect (default {DEMO_EPISODES})",
    )
    parser.add_argument(
        "--obs",
        default="state,pointcloud,color",
        help="observations recorded; the policy sees the state, rgb and pointcloud ones; color gives the "
        "cloud's points their camera colour (default state,pointcloud,color)",
    )
    parser.add_argument(
        "--controller",
        choices=("ee_pose", "joint_pos", "ee_delta"),
        default="ee_pose",
        help="action space the expert records and the policy learns (default ee_pose: absolute TCP pose, "
        "turned into joint commands by IK in the env and in the ROS policy node)",
    )
    add_sensor_arguments(parser, num_points=128)
    parser.add_argument(
        "--seed", type=int, default=0, help="base seed of the demonstrations and of training (default 0)"
    )
    parser.add_argument(
        "--policy",
        choices=("meanflow", "diffusion", "streaming"),
        default="meanflow",
        help="policy head to train (default meanflow: one network call per action chunk)",
    )
    add_recipe_arguments(parser)
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=100,
        help="evaluation episodes on held-out seeds (never a demonstration seed; default 100)",
    )
    parser.add_argument(
        "--collect-workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes stepping the expert's episodes (the dataset is the same for any count; "
        "default: 2, or 1 on a single core)",
    )
    parser.add_argument(
        "--eval-workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="evaluation processes (default: 2, or 1 on a single core)",
    )
    parser.add_argument(
        "--ros-episodes",
        type=int,
        default=20,
        help="episodes of the policy driving the sim robot node over ROS 2 DDS, on the evaluate step's "
        "first seeds (0 skips the step; default 20)",
    )
    parser.add_argument(
        "--ros-rate", type=float, default=100.0, help="policy node command rate in Hz (default 100)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("outputs/demo"),
        help="each run writes a new folder run-<time> under it (default outputs/demo)",
    )


def run(args: argparse.Namespace) -> int:
    # the collect step reads these through collect.config_from_args
    args.expert, args.resume, args.keep_failed = "scripted", False, False
    args.noise, args.max_steps, args.recovery_demos = None, None, 0.0
    args.workers = args.collect_workers
    args.post_success_steps = DEMO_POST_SUCCESS_STEPS[args.policy]
    root = args.out / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    if root.exists():
        raise UserError(f"{root} already exists; wait a second and run again")
    demo = DemoRun(root)
    console = Console()
    table = Table(title=f"simreal demo: {args.task} (outputs under {root})")
    for column in ("step", "result", "seconds", "output"):
        table.add_column(column)
    for name, step in STEPS:
        console.rule(name)
        start = time.perf_counter()
        result = step(args, demo)
        where = "" if result.path is None else str(result.path.relative_to(root))
        table.add_row(name, result.summary, f"{time.perf_counter() - start:.1f}", where)
    console.print(table)
    console.print(f"everything is under {root}")
    return 0
