"""`simreal collect`: step a MuJoCo task with an expert and record the episodes as a LeRobotDataset.

The expert is the task's scripted one or a human on a teleoperation device (keyboard, gamepad,
SpaceMouse; those drive the "ee_delta" controller in real time). Each attempt starts from
`env.reset(seed=s)` with `s` derived from `--seed` and the attempt number, so a dataset can be
reproduced and replayed; unsuccessful attempts are dropped unless `--keep-failed`. Ctrl-C or
SIGTERM stops between two steps: the partial episode is dropped, the dataset is finalized.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simreal.collect_workers import EpisodePool
from simreal.errors import UserError

EXPERTS = ("scripted", "keyboard", "gamepad", "spacemouse")


@dataclass
class CollectConfig:
    """What to collect and where. `obs` is a `simreal.sim.ObservationConfig`."""

    task: str
    episodes: int  # episodes to save (successful ones unless keep_failed)
    out: Path
    obs: object
    controller: str = "joint_pos"
    expert: str = "scripted"
    seed: int = 0
    resume: bool = False
    keep_failed: bool = False
    noise: float | None = None  # scripted expert's noise scale; None = the task's default
    max_steps: int | None = None  # episode length limit (control steps); None = the task's default
    max_attempts: int | None = None  # give up after this many attempts; None = 3 * episodes + 10
    # Control steps recorded after the task succeeds, the expert still acting: without them the
    # decisive last action (e.g. opening the jaw) is the episode's final frame, which a policy
    # trained on action chunks rarely sees inside the chunk it executes (see the README's pick_place
    # results: the streaming head needs them, MeanFlow does better without).
    post_success_steps: int = 0
    # Fraction of episodes whose expert is knocked off its first grasp while the recorded actions
    # stay its own (DART-style), so the demos show an empty grasp and its recovery (pick_place).
    recovery_demos: float = 0.0
    workers: int = 1  # processes stepping scripted episodes (the dataset is the same for any count)


@dataclass
class CollectResult:
    """What a collection run did (this session only, except `total_episodes`)."""

    out: Path
    saved: int  # episodes saved this session
    attempts: int  # episodes attempted this session
    successes: int  # attempts that succeeded
    frames: int  # frames written this session
    seconds: float  # wall time of the episode loop
    total_episodes: int  # episodes in the dataset now (earlier sessions included)
    stopped_by: str | None = None  # "SIGINT" / "SIGTERM" / "user" when stopped early

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def episode_seed(base_seed: int, attempt: int) -> int:
    """The reset seed of attempt number `attempt` (0, 1, ... over the dataset's whole life).

    A SeedSequence hash of (base_seed, attempt): deterministic, and well spread so that datasets
    collected with neighbouring --seed values do not share episodes.
    """
    return int(np.random.SeedSequence([int(base_seed), int(attempt)]).generate_state(1)[0])


def collect(
    cfg: CollectConfig, progress: bool = True, on_episode: Callable[[CollectResult], None] | None = None
) -> CollectResult:
    """Run the collection described by `cfg`; returns counts and timing. UserError on bad input.

    `on_episode` is called with the running totals after every attempt (benchmarks sample memory
    there)."""
    from simreal.datasets import DatasetRecorder, used_seeds
    from simreal.datasets.interruption import GracefulStop
    from simreal.sim import make_env

    if cfg.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {cfg.episodes}")
    is_teleop = cfg.expert != "scripted"
    if cfg.expert not in EXPERTS:
        raise UserError(f"unknown expert {cfg.expert!r}; choose one of {', '.join(EXPERTS)}")
    if is_teleop and cfg.controller != "ee_delta":
        raise UserError(f"the {cfg.expert} expert drives the ee_delta controller, not {cfg.controller}")
    if cfg.workers < 1:
        raise UserError(f"--workers must be at least 1, got {cfg.workers}")
    if is_teleop and cfg.workers > 1:
        raise UserError(f"the {cfg.expert} expert is one human: collect with --workers 1")
    overrides = env_overrides(cfg)
    env = make_env(cfg.task, obs=cfg.obs, controller=cfg.controller, **overrides)
    human = None
    try:
        task_env = env.unwrapped
        noise = task_env.config.expert_noise if cfg.noise is None else float(cfg.noise)
        expert_meta = {"kind": cfg.expert} if is_teleop else {"kind": "scripted", "noise": noise}
        expert_meta["post_success_steps"] = cfg.post_success_steps
        human = _make_teleop(cfg.expert, task_env) if is_teleop else None
        recorder = DatasetRecorder.open(
            cfg.out,
            env_features=task_env.features,
            fps=task_env.fps,
            task=cfg.task,
            task_description=task_env.task_description,
            controller=cfg.controller,
            observation=cfg.obs.to_dict(),
            expert=expert_meta,
            robot_type="simreal_panda",
            env_overrides=overrides,
            resume=cfg.resume,
        )
        with recorder, GracefulStop() as stop:
            seen = used_seeds(recorder.meta)
            return _episode_loop(cfg, env, recorder, stop, human, noise, seen, progress, on_episode)
    finally:
        if human is not None:
            human.close()
        env.close()


def collect_up_to(cfg: CollectConfig, progress: bool = True) -> CollectResult | None:
    """Collect into `cfg.out` until it holds `cfg.episodes` episodes, appending to a shorter dataset
    (its seeds continue, so the episodes are those one run of `cfg.episodes` would save); None when it
    already holds that many."""
    from simreal.datasets import read_simreal_meta
    from simreal.datasets.sidecar import sidecar_file

    have = len(read_simreal_meta(cfg.out)["episodes"]) if sidecar_file(cfg.out).is_file() else 0
    if have >= cfg.episodes:
        return None
    return collect(dataclasses.replace(cfg, episodes=cfg.episodes - have, resume=have > 0), progress)


def _episode_loop(cfg, env, recorder, stop, human, noise, seen_seeds, progress, on_episode) -> CollectResult:
    attempt = len(recorder.meta["episodes"]) + len(recorder.meta["discarded_seeds"])
    max_attempts = cfg.max_attempts or 3 * cfg.episodes + 10
    result = CollectResult(cfg.out, 0, 0, 0, 0, 0.0, recorder.num_episodes)
    bar = tqdm(total=cfg.episodes, unit="ep", desc=f"collect {cfg.task}", disable=not progress)
    start = time.perf_counter()
    seeds = _attempt_seeds(cfg.seed, attempt, seen_seeds)
    with contextlib.ExitStack() as stack:
        if cfg.workers > 1:
            pool = stack.enter_context(
                EpisodePool(
                    cfg.workers,
                    cfg.task,
                    cfg.obs,
                    cfg.controller,
                    env_overrides(cfg),
                    noise,
                    cfg.post_success_steps,
                )
            )
            wanted = lambda: min(cfg.episodes - result.saved, max_attempts - result.attempts)  # noqa: E731
            episodes = _episodes_in_workers(pool, recorder, seeds, wanted, stop)
        else:
            episodes = _episodes_here(cfg, env, recorder, stop, human, noise, seeds)
        # each episode is the recorder's pending one until it is saved or discarded here
        for seed, success, verdict, perturbed in episodes:
            result.attempts += 1
            result.successes += int(success)
            keep = success or cfg.keep_failed or human is not None  # a human's "save" is the verdict
            if verdict == "save" and keep and recorder.pending_frames:
                result.frames += recorder.pending_frames
                recorder.save_episode(seed=seed, success=success, expert=cfg.expert, perturbed=perturbed)
                result.saved += 1
                bar.update(1)
            else:
                recorder.discard_episode(seed=seed)
            if verdict == "quit":
                result.stopped_by = "user"
                break
            elapsed = time.perf_counter() - start
            if on_episode is not None:
                result.seconds = elapsed
                on_episode(result)
            bar.set_postfix(
                success=f"{result.successes}/{result.attempts}", fps=f"{result.frames / elapsed:.0f}"
            )
            if result.saved >= cfg.episodes or result.attempts >= max_attempts or stop.requested:
                break
    bar.close()
    result.seconds = time.perf_counter() - start
    result.total_episodes = recorder.num_episodes
    if stop.requested:
        result.stopped_by = stop.signal_name
    return result


def _episodes_here(cfg, env, recorder, stop, human, noise, seeds) -> Iterator[tuple[int, bool, str, bool]]:
    """Episodes stepped in this process into the recorder: (seed, success, verdict, perturbed) each;
    ends when a signal interrupts one (its frames stay pending, to be dropped)."""
    for seed in seeds:
        expert = human if human is not None else env.unwrapped.make_expert(np.random.default_rng(seed), noise)
        success, verdict, perturbed = run_episode(
            env,
            expert,
            recorder,
            seed,
            stop,
            realtime=human is not None,
            after_success=cfg.post_success_steps,
        )
        if verdict == "interrupted":
            return
        yield seed, success, verdict, perturbed


def _episodes_in_workers(pool, recorder, seeds, wanted, stop) -> Iterator[tuple[int, bool, str, bool]]:
    """The same from worker processes, in attempt order: each one's frames go into the recorder."""
    for outcome in pool.outcomes(seeds, wanted, stop):
        for observation, action in outcome.frames:
            recorder.add_frame(observation, action)
        yield outcome.seed, outcome.success, outcome.verdict, outcome.perturbed


def _attempt_seeds(base_seed: int, attempt: int, seen_seeds: set[int]) -> Iterator[int]:
    """Reset seeds of attempts `attempt`, `attempt` + 1, ..., stepping over (and marking) seen ones."""
    while True:
        seed = episode_seed(base_seed, attempt)
        attempt += 1
        if seed not in seen_seeds:  # else another --seed of an earlier session already used it
            seen_seeds.add(seed)
            yield seed


def env_overrides(cfg: CollectConfig) -> dict:
    """Task-config overrides the collection runs its env with (episode limit, recovery demos)."""
    overrides = {} if cfg.max_steps is None else {"max_episode_steps": cfg.max_steps}
    return overrides | _recovery_overrides(cfg)


def _recovery_overrides(cfg: CollectConfig) -> dict:
    """The task-config override behind `recovery_demos`; UserError where it cannot apply."""
    from simreal.sim import TASKS

    if not cfg.recovery_demos:
        return {}
    if not 0.0 < cfg.recovery_demos <= 1.0:
        raise UserError(f"--recovery-demos is a fraction in (0, 1], got {cfg.recovery_demos}")
    if cfg.expert != "scripted":
        raise UserError("--recovery-demos perturbs the scripted expert; it cannot apply to a human")
    task = TASKS.get(cfg.task)
    if task is not None and "expert_miss_rate" not in {f.name for f in dataclasses.fields(task.Config)}:
        raise UserError(f"--recovery-demos: the {cfg.task} expert makes no recovery demos (pick_place does)")
    return {"expert_miss_rate": float(cfg.recovery_demos)}


def run_episode(
    env, expert, recorder, seed, stop, realtime: bool, after_success: int = 0
) -> tuple[bool, str, bool]:
    """Steps one episode into the recorder's buffer (or a worker's FrameBuffer), going on for
    `after_success` steps once the task succeeds (not past the episode limit). Returns (success,
    verdict, perturbed) with verdict "save" (episode over), "discard" / "quit" (a teleop key) or
    "interrupted" (a signal); `perturbed` when some executed action differed from the recorded one (a
    recovery demo)."""
    obs, info = env.reset(seed=seed)
    expert.reset()
    period = 1.0 / env.unwrapped.fps
    next_tick = time.perf_counter()
    succeeded_at = None
    perturbed = False
    while True:
        action = expert.act(obs)
        verdict = getattr(expert, "verdict", None)  # teleop devices: "save", "discard", "quit" keys
        if verdict is not None:
            return succeeded_at is not None, verdict, perturbed
        executed = getattr(expert, "executed_action", None)  # scripted experts: see simreal.sim.expert
        executed = action if executed is None else executed
        perturbed = perturbed or executed is not action
        recorder.add_frame(obs, action)
        obs, _, terminated, truncated, info = env.step(executed)
        if stop.requested:
            return False, "interrupted", perturbed
        if succeeded_at is None and info["success"]:
            succeeded_at = recorder.pending_frames
        if succeeded_at is not None and recorder.pending_frames - succeeded_at >= after_success:
            return True, "save", perturbed
        if truncated:
            return succeeded_at is not None, "save", perturbed
        if realtime:  # a human needs the scene at its real pace
            next_tick += period
            time.sleep(max(0.0, next_tick - time.perf_counter()))


def _make_teleop(kind: str, task_env):
    from simreal.real.teleop import make_teleop_expert

    return make_teleop_expert(kind, view=task_env.render)


# -- CLI ---------------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task", default="pick_place", help="task short name (default pick_place; see `simreal tasks`)"
    )
    parser.add_argument(
        "--episodes",
        type=int,
        default=10,
        help="episodes to save: successful ones unless --keep-failed (default 10)",
    )
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to create (or extend)")
    parser.add_argument(
        "--obs",
        default="state,rgb,pointcloud",
        help="comma-separated observations: state, env_state (object/goal poses), rgb, depth, pointcloud, "
        "color (coloured cloud) "
        "(default state,rgb,pointcloud)",
    )
    add_sensor_arguments(parser, num_points=512)
    parser.add_argument(
        "--expert",
        choices=EXPERTS,
        default="scripted",
        help="who acts: the task's scripted expert or a human on a teleop device (ee_delta control)",
    )
    parser.add_argument(
        "--controller",
        choices=("joint_pos", "ee_pose", "ee_delta"),
        default=None,
        help="action space recorded: joint_pos (joint targets, the default), ee_pose (absolute TCP pose) or "
        "ee_delta (TCP pose steps; the default for teleop experts)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="base seed; episode reset seeds derive from it (default 0)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="append to an existing dataset of the same schema"
    )
    parser.add_argument(
        "--keep-failed",
        action="store_true",
        help="also save episodes that did not succeed (default: drop them)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=None,
        help="scripted expert noise scale (0 = none; default: the task's)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="episode length limit in control steps (default: the task's)",
    )
    parser.add_argument(
        "--post-success-steps",
        type=int,
        default=0,
        help="control steps recorded after the task succeeds, the expert still acting, so that the "
        "decisive last action (pick_place's release) is not the episode's final frame; 10 lets a "
        "streaming policy with horizon 20 learn the release (default 0: episodes end at success)",
    )
    parser.add_argument(
        "--recovery-demos",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of episodes in which the executed motion is knocked off the expert's first grasp "
        "(it closes on nothing) while the recorded actions stay the expert's own, DART-style; the expert "
        "then grasps again, so policies see how to recover from an empty grasp. pick_place only; such "
        "episodes cannot be replayed open loop (default 0)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes stepping scripted episodes; the dataset is the same for any count (default 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_sensor_arguments(parser: argparse.ArgumentParser, *, num_points: int) -> None:
    """--cameras, --num-points and --image-size, read back by `config_from_args` (also `simreal demo`)."""
    parser.add_argument(
        "--cameras", default="front,wrist", help="comma-separated cameras (default front,wrist)"
    )
    parser.add_argument(
        "--num-points",
        type=int,
        default=num_points,
        help=f"points per point cloud, float32 (N,3) (default {num_points})",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=(96, 96),
        help="camera image size in pixels (default 96 96)",
    )


def config_from_args(args: argparse.Namespace) -> CollectConfig:
    """Build a CollectConfig from parsed CLI arguments (shared with `simreal demo`)."""
    from simreal.sim import ObservationConfig

    obs = ObservationConfig.parse(args.obs)
    cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
    obs = dataclasses.replace(
        obs, cameras=cameras, num_points=args.num_points, image_size=tuple(args.image_size)
    )
    controller = args.controller or ("joint_pos" if args.expert == "scripted" else "ee_delta")
    return CollectConfig(
        task=args.task,
        episodes=args.episodes,
        out=Path(args.out),
        obs=obs.validated(),
        controller=controller,
        expert=args.expert,
        seed=args.seed,
        resume=args.resume,
        keep_failed=args.keep_failed,
        noise=args.noise,
        max_steps=args.max_steps,
        post_success_steps=args.post_success_steps,
        recovery_demos=args.recovery_demos,
        workers=args.workers,
    )


def run(args: argparse.Namespace) -> int:
    result = collect(config_from_args(args), progress=not args.no_progress)
    rate = result.successes / result.attempts if result.attempts else 0.0
    print(
        f"wrote {result.saved} episodes ({result.frames} frames, {result.frames_per_second:.0f} frames/s, "
        f"success {result.successes}/{result.attempts} = {rate:.0%}) to {result.out}; "
        f"the dataset now holds {result.total_episodes} episodes"
    )
    if result.stopped_by in ("SIGINT", "SIGTERM"):
        print(f"stopped by {result.stopped_by}; every completed episode is saved")
        return 128 + int(getattr(signal, result.stopped_by))
    if result.saved < args.episodes and result.stopped_by is None:
        print(f"gave up after {result.attempts} attempts: the expert succeeded too rarely")
        return 1
    return 0
