"""Success of each policy head x observation on each task: 100 scripted demos, train, evaluate the
last checkpoint on held-out seeds (>= 100 episodes) with a 95% Wilson interval.

Every cell uses `make demo`'s recipe (simreal.demo): absolute TCP-pose actions (ee_pose), coloured
point clouds, horizon 16 with 8 actions executed, a 32-64-128 U-Net, peak lr 3e-3 (1e-3 before
2026-12-04; each row records its lr) with 100 warm-up steps, and the demo's per-head settings
(MeanFlow 4 calls; diffusion sample prediction, DDIM-10; streaming sample prediction, horizon 20,
trained on demos that go on 10 steps after success; the point cloud min-max scaled per channel, since
2026-12-05 for MeanFlow and diffusion and since the scene shift for streaming) and, where it applies,
its scene shift of up to 4 cm (pick_place and peg_insert point-cloud cells, from session 21;
--shift-augment 0 turns it off); --set overrides any of the policy settings, and each row records the
settings it ran (`policy_settings`, from 2026-12-05, and `shift_augment_m`).
--dataset trains on a given dataset instead (e.g. a make demo run's, to A/B a recipe change on the
demo's own data). --obs env_state is a diagnostic outside the sweep: the same seeds' demos recorded with
the simulator's object poses instead of rendered observations (--num-points does not apply); --obs
wrist_image another: the image cells' demos with the state and the wrist camera only.

A long sweep, built to run one cell at a time and to pick up where it stopped: the dataset of a task
is collected once (topped up if short), a cell's training resumes from its last checkpoint, and a
cell already in the results file is skipped unless --force.

    .venv/bin/python benchmarks/bench_policy_success.py --task pick_place --policy meanflow --obs pointcloud
    .venv/bin/python benchmarks/bench_policy_success.py            # every cell
    .venv/bin/python benchmarks/bench_policy_success.py --quick    # smoke run (3 demos, 20 steps, 4 episodes)
Writes benchmarks/results/policy_success.json (quick runs: policy_success_quick.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, read_results, record_result
from simreal.demo import (
    DEMO_POST_SUCCESS_STEPS,
    add_recipe_arguments,
    demo_policy_settings,
    demo_shift_augment,
)

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("push_t", "pick_place", "peg_insert")
POLICIES = ("diffusion", "meanflow", "streaming")
OBS = {
    "pointcloud": ("state", "pointcloud"),
    "image": ("state", "rgb"),
    "wrist_image": ("state", "wrist"),
    "env_state": ("state", "env_state"),
}
# The sweep; env_state (the simulator's object poses) is a diagnostic: how far a head gets when
# it need not read the scene from pixels or points; wrist_image another: the image recipe without the
# front camera.
SWEEP_OBS = ("pointcloud", "image")
IMAGE_OBS = ("image", "wrist_image")
VAL_COLLECT_SEED = 1  # collect's --seed of the held-out validation demos (the sweep's own are seed 0)
DEFAULT_DEMOS = 100


def task_dataset(
    task: str,
    episodes: int,
    workdir: Path,
    num_points: int,
    post_success_steps: int,
    recovery_demos: float = 0.0,
    env_state: bool = False,
    image_size: tuple[int, int] = (96, 96),
    collect_seed: int = 0,
) -> Path:
    """The task's demo dataset (state + RGB + `num_points`-point coloured cloud, or with `env_state`
    state + the object poses and nothing rendered; ee_pose actions, `post_success_steps` expert steps
    after each success, a `recovery_demos` fraction of recovery demos; camera images of `image_size`),
    collected or topped up to `episodes`. The same seeds give the same episodes either way; another
    `collect_seed` gives other episodes (held-out demos) and a count other than the default 100 its own
    copy, each in a dataset of its own."""
    from simreal.collect import CollectConfig, collect_up_to
    from simreal.sim import ObservationConfig

    sensed = "env_state" if env_state else f"{num_points}pts"
    path = workdir / "datasets" / f"{task}_ee_pose_{sensed}_post{post_success_steps}"
    if recovery_demos:
        path = path.with_name(f"{path.name}_recovery{recovery_demos:g}")
    if image_size != ObservationConfig.image_size and not env_state:  # the default size keeps the old name
        path = path.with_name(f"{path.name}_img{image_size[0]}x{image_size[1]}")
    if episodes != DEFAULT_DEMOS:  # topping one count up must never change what another count trains on
        path = path.with_name(f"{path.name}_{episodes}demos")
    if collect_seed:
        path = path.with_name(f"{path.name}_seed{collect_seed}")
    items = "state,env_state" if env_state else f"state,rgb,pointcloud,color,points={num_points}"
    obs = dataclasses.replace(ObservationConfig.parse(items), image_size=image_size).validated()
    config = CollectConfig(
        task,
        episodes,
        path,
        obs,
        controller="ee_pose",
        post_success_steps=post_success_steps,
        recovery_demos=recovery_demos,
        seed=collect_seed,
    )
    collect_up_to(config)
    return path


def run_cell(task: str, policy: str, obs: str, args: argparse.Namespace) -> dict:
    """Train (or resume) one cell, then evaluate its last checkpoint."""
    from simreal.datasets import read_simreal_meta
    from simreal.evaluate import evaluate
    from simreal.train import train
    from simreal.training.checkpoint import last_checkpoint, recorded_train_wall_s
    from simreal.training.config import TrainConfig, recipe_from_args

    post_success_steps = DEMO_POST_SUCCESS_STEPS[policy]

    def demos(episodes: int, collect_seed: int = 0) -> Path:
        return task_dataset(
            task,
            episodes,
            args.workdir,
            args.num_points,
            post_success_steps,
            args.recovery_demos,
            env_state=obs == "env_state",
            image_size=tuple(args.image_size),
            collect_seed=collect_seed,
        )

    dataset = args.dataset or demos(args.demos)
    val_dataset = demos(args.val_demos, VAL_COLLECT_SEED) if args.val_demos else None
    run_dir = args.workdir / "runs" / task / f"{policy}_{obs}{args.tag}"
    policy_settings = {**demo_policy_settings(policy, args.config), **args.overrides}
    shift_augment = demo_shift_augment(args, task, OBS[obs], "ee_pose")
    cpu_started = time.process_time()
    last = last_checkpoint(run_dir)
    trained_now = last is None or int(last.name) < args.steps
    if trained_now:
        config = TrainConfig(
            policy=policy,
            dataset=str(dataset),
            out=str(run_dir),
            obs=OBS[obs],
            **recipe_from_args(args),
            shift_augment_m=shift_augment,
            num_workers=args.data_workers,
            policy_overrides=policy_settings,
            val_dataset=str(val_dataset) if val_dataset else None,
            val_every=args.val_every,
            save_every=args.save_every,
        )
        train(config, resume=last is not None)
    # The checkpoint's clock counts every sitting of a resumed run; CPU time only a run from scratch.
    train_s = recorded_train_wall_s(last_checkpoint(run_dir))
    train_cpu_s = time.process_time() - cpu_started if trained_now and last is None else None
    result = evaluate(
        run_dir,
        episodes=args.episodes,
        workers=args.workers,
        skip_demo_seeds=True,
        video_dir=run_dir / "videos",
        videos=2,
    )
    return {
        "task": task,
        "policy": policy,
        "obs": obs,
        "dataset": str(dataset),
        "demos": args.demos,
        "seed": args.seed,
        "steps": args.steps,
        "config": args.config,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "num_points": None if obs == "env_state" else args.num_points,
        # read from the dataset: a --dataset run's images need not be --image-size's
        "image_size": read_simreal_meta(dataset)["observation"]["image_size"] if obs in IMAGE_OBS else None,
        "post_success_steps": post_success_steps,
        "recovery_demos": args.recovery_demos,
        "shift_augment_m": shift_augment,
        "val_demos": args.val_demos,
        "validation": _validation_rows(run_dir),
        "overrides": args.overrides,
        "policy_settings": policy_settings,  # the recipe's at the time, overrides included
        "train_wall_s": train_s,
        "train_cpu_s": train_cpu_s,
        "load_average": list(os.getloadavg()),
        **{
            k: result[k]
            for k in (
                "episodes",
                "successes",
                "success_rate",
                "success_ci95",
                "episode_length",
                "final_progress",
                "failed_outcome_mean",
                "latency_ms",
                "checkpoint",
                "videos",
                "wall_s",
            )
        },
    }


def _validation_rows(run_dir: Path) -> list[dict]:
    """The run's held-out validations (simreal train's validation.jsonl; [] without --val-demos)."""
    from simreal.train import VALIDATION_LOG

    log = run_dir / VALIDATION_LOG
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", action="append", choices=TASKS, help="task(s) to run (default: all)")
    parser.add_argument("--policy", action="append", choices=POLICIES, help="head(s) to run (default: all)")
    parser.add_argument(
        "--obs", action="append", choices=tuple(OBS), help="observation(s) (default: pointcloud and image)"
    )
    parser.add_argument(
        "--demos", type=int, default=DEFAULT_DEMOS, help=f"scripted demos per task (default {DEFAULT_DEMOS})"
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        help="train on this dataset (e.g. a make demo run's) instead of collecting --demos; its task and "
        "episode count replace --task and --demos",
    )
    parser.add_argument(
        "--episodes", type=int, default=100, help="held-out evaluation episodes (default 100)"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="evaluation processes")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    add_recipe_arguments(parser)  # --config --steps --batch-size --lr --warmup-steps --data-workers
    parser.add_argument(
        "--num-points", type=int, default=128, help="points per cloud collected (default 128, as make demo)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(96, 96),
        metavar=("H", "W"),
        help="camera image size collected (default 96 96, as make demo; another size gets its own dataset; "
        "not used with --dataset)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="policy config override, VALUE parsed as JSON where it is JSON, else a string (repeatable), "
        "e.g. --set horizon=16 --set prediction_type=epsilon",
    )
    parser.add_argument(
        "--recovery-demos",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of recovery demos in the dataset (collect --recovery-demos; pick_place only)",
    )
    parser.add_argument(
        "--val-demos",
        type=int,
        default=0,
        help="also collect this many held-out demos (other episode seeds) and log the training's loss and "
        "planned-action error on them next to the same on training windows (default 0: none)",
    )
    parser.add_argument(
        "--val-every", type=int, default=0, help="steps between validations (default: at every checkpoint)"
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        help="steps between checkpoints (default: a quarter of --steps); a run longer than one sitting "
        "resumes from its last checkpoint when the same command is run again",
    )
    parser.add_argument(
        "--tag", default="", help="suffix of the cells' run folders and result keys (e.g. a config name)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / "outputs" / "bench" / "policy_success",
        help="where datasets and runs live (reused between invocations)",
    )
    parser.add_argument("--force", action="store_true", help="re-evaluate cells already in the results")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 demos, 20 steps, 4 episodes")
    args = parser.parse_args()
    from simreal.errors import UserError
    from simreal.train import parse_overrides

    try:
        args.overrides = parse_overrides(args.set)
    except UserError as err:
        parser.error(str(err))
    os.environ.setdefault("MUJOCO_GL", "egl")
    out = RESULTS / "policy_success.json"
    if args.quick:
        args.demos, args.steps, args.episodes, args.config = 3, 20, 4, "tiny"
        args.workdir = args.workdir.with_name(args.workdir.name + "_quick")
        out = RESULTS / "policy_success_quick.json"
        args.task = args.task or ["pick_place"]
        args.policy = args.policy or ["meanflow"]
        args.obs = args.obs or ["pointcloud"]

    if args.dataset:
        from simreal.datasets import read_simreal_meta

        meta = read_simreal_meta(args.dataset)
        if args.task not in (None, [meta["task"]]):
            parser.error(f"--dataset holds {meta['task']} demos, not {', '.join(args.task)}")
        args.task, args.demos = [meta["task"]], len(meta["episodes"])
        if args.val_demos:
            parser.error("--val-demos collects the task's held-out demos; it does not apply to --dataset")
    results = read_results(out)
    for task in args.task or TASKS:
        for policy in args.policy or POLICIES:
            for obs in args.obs or SWEEP_OBS:
                key = f"{task}/{policy}/{obs}{args.tag}"
                if key in results.get("cells", {}) and not args.force:
                    print(f"{key}: done earlier, skipped (--force to redo)")
                    continue
                row = run_cell(task, policy, obs, args)
                results = record_result(out, "policy_success", ("cells", key), row)
                low, high = row["success_ci95"]
                print(
                    f"{key}: success {row['successes']}/{row['episodes']} = {row['success_rate']:.1%} "
                    f"(95% CI {low:.1%}-{high:.1%}), trained {_minutes(row['train_wall_s'])} min",
                    flush=True,
                )
    print_table(results.get("cells", {}))
    print(f"wrote {out}")


def print_table(cells: dict) -> None:
    """Every cell in the results file as a markdown table."""
    print("| cell | success | 95% CI | steps | train min (wall / CPU) | latency p50 ms |")
    print("|---|---|---|---|---|---|")
    for key, row in sorted(cells.items()):
        low, high = row["success_ci95"]
        print(
            f"| {key} | {row['successes']}/{row['episodes']} | {low:.0%}-{high:.0%} | {row['steps']} | "
            f"{_minutes(row['train_wall_s'])} / {_minutes(row.get('train_cpu_s'))} | "
            f"{row['latency_ms']['p50']:.1f} |"
        )


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


if __name__ == "__main__":
    main()
