"""Roll a policy out in a simreal task: one episode at a time, timed, optionally filmed.

Shared by `simreal eval` and the periodic evaluation inside `simreal train`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simreal.errors import UserError

# Seeds for evaluation start here by default, far from the low seeds demonstrations use.
DEFAULT_EVAL_SEED_START = 100_000


@dataclass
class Episode:
    """One rollout: success, length in policy steps (1/fps s each), per-call latency in seconds, the
    task's dense progress (0 to 1) at the last step and its highest during the episode (a failure
    that got far and lost it again shows as a peak above the final value), and the task's `outcome()`
    measures at the last step (how far from success it ended, e.g. the cube's distance to the pad)."""

    seed: int
    success: bool
    length: int
    latencies_s: list[float] = field(default_factory=list)
    frames: list[np.ndarray] | None = None
    final_progress: float = 0.0
    peak_progress: float = 0.0
    outcome: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "success": self.success,
            "length": self.length,
            "final_progress": round(self.final_progress, 4),
            "peak_progress": round(self.peak_progress, 4),
            "outcome": {name: round(value, 4) for name, value in self.outcome.items()},
        }


def run_episode(env: Any, runner: Any, seed: int, *, film: str | None = None) -> Episode:
    """Reset `env` with `seed` and act with `runner` until success or truncation.

    The policy's sampling noise is drawn from torch's generator seeded with `seed` too (the caller's
    generator state is restored afterwards), so an episode replays exactly, whichever worker runs it.
    `film`: a camera name whose RGB frames are kept in `Episode.frames` (for a video).
    """
    import torch

    observation, info = env.reset(seed=seed)
    runner.reset()
    frames = [] if film else None
    latencies = []
    success, length, done = False, 0, False
    peak_progress = float(info.get("progress", 0.0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        while not done:
            if frames is not None:
                frames.append(env.unwrapped.render_camera(film)[0].copy())
            start = time.perf_counter()
            action = runner(observation)
            latencies.append(time.perf_counter() - start)
            observation, _reward, terminated, truncated, info = env.step(action)
            length += 1
            success = success or bool(info.get("success", False))
            peak_progress = max(peak_progress, float(info.get("progress", 0.0)))
            done = terminated or truncated
    return Episode(
        seed,
        success,
        length,
        latencies,
        frames,
        final_progress=float(info.get("progress", 0.0)),
        peak_progress=peak_progress,
        outcome=env.unwrapped.outcome(),
    )


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """Write RGB uint8 frames as an H.264 MP4 (through PyAV, which LeRobot already uses)."""
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.stack(frames), plugin="pyav", codec="libx264", fps=fps)
    return path


def held_out_seeds(start: int, count: int, demo_seeds: set[int], *, skip_demo_seeds: bool) -> list[int]:
    """`count` consecutive evaluation seeds from `start`, never a demonstration seed.

    With `skip_demo_seeds` the demo seeds are stepped over (the list stays deterministic); without
    it an overlap is refused, naming the first clash and a start that avoids it.
    """
    if count < 1:
        raise UserError(f"--episodes must be >= 1, got {count}")
    if start < 0:
        raise UserError(f"--seed-start must be >= 0, got {start}")
    if not skip_demo_seeds:
        clash = sorted(s for s in range(start, start + count) if s in demo_seeds)
        if clash:
            raise UserError(
                f"evaluation seeds {start}..{start + count - 1} overlap {len(clash)} demonstration seeds "
                f"(first {clash[0]}); use --seed-start {max(demo_seeds) + 1} or --skip-demo-seeds"
            )
        return list(range(start, start + count))
    seeds, seed = [], start
    while len(seeds) < count:
        if seed not in demo_seeds:
            seeds.append(seed)
        seed += 1
    return seeds


def make_task_env(dataset_meta: dict[str, Any], task: str | None = None, **overrides: Any) -> Any:
    """The env a dataset was recorded in (task, controller, observation config from its sidecar).

    `task` overrides the sidecar's task name (same observation config and controller); `overrides`
    replace task config fields (e.g. max_episode_steps).
    """
    from simreal.sim import ObservationConfig, make_env

    observation = {
        k: tuple(v) if isinstance(v, list) else v for k, v in (dataset_meta.get("observation") or {}).items()
    }
    name = task or dataset_meta.get("task")
    if not name:
        raise UserError("no task: the checkpoint has no dataset sidecar, pass --task")
    return make_env(
        name,
        obs=ObservationConfig(**observation),
        controller=dataset_meta.get("controller", "joint_pos"),
        **overrides,
    )
