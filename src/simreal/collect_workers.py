"""Scripted episodes stepped in worker processes for `simreal collect --workers N`.

Each worker builds the task's env once and runs whole episodes for the seeds it is given, buffering
the (observation, action) frames; the collecting process writes them to the dataset in attempt order,
so the dataset is the one a single process would write, episode for episode. Workers ignore SIGINT:
the collecting process decides when to stop (and drops what is still in flight).
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IN_FLIGHT_PER_WORKER = 2  # episodes queued per worker, so none idles while the writer catches up


@dataclass
class FrameBuffer:
    """Stands in for the recorder inside a worker: the frames of one episode, in order."""

    frames: list[tuple[dict[str, np.ndarray], np.ndarray]] = field(default_factory=list)

    @property
    def pending_frames(self) -> int:
        return len(self.frames)

    def add_frame(self, observation: dict[str, np.ndarray], action: np.ndarray) -> None:
        # copies: an env may reuse its observation buffers from one step to the next
        frame = {key: np.array(value) for key, value in observation.items()}
        self.frames.append((frame, np.array(action, dtype=np.float32)))


@dataclass
class EpisodeOutcome:
    seed: int
    success: bool
    verdict: str
    perturbed: bool
    frames: list[tuple[dict[str, np.ndarray], np.ndarray]]


class _NeverStop:
    requested = False


_worker: dict[str, Any] = {}


def _start_worker(task: str, obs: Any, controller: str, overrides: dict, noise: float, after: int) -> None:
    from simreal.sim import make_env

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(env=make_env(task, obs=obs, controller=controller, **overrides), noise=noise, after=after)


def _episode(seed: int) -> EpisodeOutcome:
    from simreal.collect import run_episode

    env = _worker["env"]
    expert = env.unwrapped.make_expert(np.random.default_rng(seed), _worker["noise"])
    buffer = FrameBuffer()
    success, verdict, perturbed = run_episode(
        env, expert, buffer, seed, _NeverStop(), realtime=False, after_success=_worker["after"]
    )
    return EpisodeOutcome(seed, success, verdict, perturbed, buffer.frames)


class EpisodePool:
    """`workers` processes stepping scripted episodes; `outcomes(...)` yields them in order."""

    def __init__(
        self, workers: int, task: str, obs: Any, controller: str, overrides: dict, noise: float, after: int
    ) -> None:
        import multiprocessing

        self.workers = workers
        context = multiprocessing.get_context("spawn")  # no fork of a process holding EGL/torch threads
        self.pool = context.Pool(
            workers, initializer=_start_worker, initargs=(task, obs, controller, overrides, noise, after)
        )

    def outcomes(
        self, seeds: Iterator[int], wanted: Callable[[], int], stop: Any
    ) -> Iterator[EpisodeOutcome]:
        """Episodes of `seeds`, in order; `wanted()` says how many more results are still wanted (so the
        pool stops queueing near the end); ends early when `stop.requested`."""
        pending: deque = deque()
        while True:
            while len(pending) < IN_FLIGHT_PER_WORKER * self.workers and len(pending) < wanted():
                seed = next(seeds, None)
                if seed is None:
                    break
                pending.append(self.pool.apply_async(_episode, (seed,)))
            if not pending or stop.requested:
                return
            while not pending[0].ready():
                if stop.requested:
                    return
                pending[0].wait(0.1)
            yield pending.popleft().get()

    def __enter__(self) -> EpisodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.terminate()  # episodes still in flight are not wanted
        self.pool.join()
