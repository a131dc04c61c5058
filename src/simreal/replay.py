"""`simreal replay DIR --episode K --out video.mp4`: the determinism check of a recorded episode.

Resets the task with the episode's recorded seed, replays the recorded actions open loop, renders
a video, and compares the replayed observation.state with the recorded one at every frame. Since
`env.reset(seed)` plus the actions fully determine a simreal episode, any difference above the
tolerance means the simulator, the task or the dataset changed since recording.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simreal.errors import UserError

STATE_KEY = "observation.state"
DEFAULT_TOLERANCE = 1e-5  # rad / m: replays are bit-exact on one machine; leave room for BLAS order


@dataclass
class ReplayResult:
    """Outcome of a replay. Errors are max |replayed - recorded| over the episode, per feature."""

    episode: int
    seed: int
    frames: int
    max_abs_error: dict[str, float] = field(default_factory=dict)
    worst_frame: dict[str, int] = field(default_factory=dict)
    recorded_success: bool = False
    replayed_success: bool = False
    video: Path | None = None


def replay_episode(
    root: str | Path,
    episode: int,
    video: str | Path | None = None,
    camera: str | None = None,
    progress: bool = False,
) -> ReplayResult:
    """Replay episode `episode` of the dataset at `root`; optionally write an MP4 of `camera`
    (default: the task's render camera) to `video`. Compares every recorded float observation
    stored in parquet (state, point cloud) with the replayed one; does not judge the result."""
    from simreal.datasets import read_episode_columns, read_simreal_meta
    from simreal.sim import ObservationConfig, make_env

    meta = read_simreal_meta(root)
    episodes = meta["episodes"]
    if not 0 <= episode < len(episodes):
        raise UserError(f"episode {episode} does not exist ({root} has {len(episodes)} episodes)")
    record = episodes[episode]
    if record.get("seed") is None:
        raise UserError(f"episode {episode} has no reset seed (recorded off the simulator): cannot replay")
    if record.get("perturbed"):
        raise UserError(
            f"episode {episode} is a recovery demo: it records the expert's actions, but perturbed ones "
            "were executed (collect --recovery-demos), so an open-loop replay cannot reproduce it"
        )
    compared = [k for k, ft in meta["features"].items() if k != "action" and ft["dtype"] == "float32"]
    columns = read_episode_columns(root, episode, ["action", *compared])
    actions = columns.pop("action")
    obs_config = ObservationConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in meta["observation"].items()}
    )
    overrides = record.get("env_overrides") or {}
    env = make_env(meta["task"], obs=obs_config, controller=meta["controller"], **overrides)
    result = ReplayResult(
        episode, int(record["seed"]), len(actions), recorded_success=bool(record["success"])
    )
    frames = []
    try:
        task_env = env.unwrapped
        obs, info = env.reset(seed=result.seed)
        for t in tqdm(range(len(actions)), desc=f"replay episode {episode}", disable=not progress):
            _compare(result, columns, obs, t)
            if video is not None:
                frames.append(task_env.render() if camera is None else task_env.render_camera(camera)[0])
            obs, _, _, _, info = env.step(actions[t])
            # any frame: a dataset may record steps after the success (collect --post-success-steps)
            result.replayed_success = result.replayed_success or bool(info["success"])
    finally:
        env.close()
    if video is not None:
        result.video = write_video(video, frames, fps=int(meta["fps"]))
    return result


def _compare(result: ReplayResult, recorded: dict[str, np.ndarray], obs: dict, t: int) -> None:
    for key, values in recorded.items():
        err = float(np.max(np.abs(np.asarray(obs[key], dtype=np.float64) - values[t])))
        if err > result.max_abs_error.get(key, -1.0):
            result.max_abs_error[key] = err
            result.worst_frame[key] = t


def write_video(path: str | Path, frames: list[np.ndarray], fps: int) -> Path:
    """Encode uint8 (H, W, 3) RGB frames as an H.264 MP4 (yuv420p, plays everywhere) with PyAV."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        # yuv420p needs even sizes
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for frame in frames:
            image = np.ascontiguousarray(frame[: stream.height, : stream.width, :3])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


# -- CLI ---------------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="dataset directory")
    parser.add_argument("--episode", type=int, default=0, help="episode index to replay (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="MP4 to write (default: no video)")
    parser.add_argument(
        "--camera",
        default=None,
        help="camera to film at the observation image size (default: the task's render camera, 320x240)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest allowed |replayed - recorded| observation.state error (default {DEFAULT_TOLERANCE:g})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    result = replay_episode(
        args.path, args.episode, video=args.out, camera=args.camera, progress=not args.no_progress
    )
    for key, err in result.max_abs_error.items():
        print(f"max |replayed - recorded| {key}: {err:.3g} (frame {result.worst_frame[key]})")
    print(f"success recorded {result.recorded_success}, replayed {result.replayed_success}")
    if result.video is not None:
        print(f"video: {result.video}")
    state_err = result.max_abs_error.get(STATE_KEY)
    if state_err is None:
        print("no observation.state recorded: determinism not checked")
    elif state_err > args.tolerance:
        raise UserError(
            f"replay of episode {args.episode} diverged: max |Δ observation.state| {state_err:.3g} > "
            f"tolerance {args.tolerance:g} (worst at frame {result.worst_frame[STATE_KEY]})"
        )
    return 0
