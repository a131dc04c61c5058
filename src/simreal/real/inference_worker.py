"""The policy's own thread: it refills the action schedule so the control timer never waits on inference.

The worker wakes every ``poll`` seconds; when less than ``replan_horizon`` seconds of actions remain it
samples the aligned observation history ending at the current time (the policy's n_obs_steps frames,
1 / fps apart, as in training), runs the policy, and merges the chunk, stamped
from the observation's time, into the schedule (late actions dropped there). With a ``converter`` (an
end-effector checkpoint: simreal.real.cartesian_chunks) the chunk is turned into joint targets on this
thread between the two, timed on its own. A stale observation skips the round (counted), and so does
one no newer than the last chunk's: its actions would be the ones already scheduled, or already past,
and re-planning on it in a loop while a sensor stalls would only drop them. Latencies are kept in a
bounded window for the diagnostics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .action_schedule import ActionSchedule
from .node_runtime import set_thread_priority
from .policy_runner import ChunkRunner
from .time_alignment import ObservationAligner, StaleObservation

log = logging.getLogger(__name__)


class ChunkConverter(Protocol):
    """Turns a policy's chunk into the chunk the schedule holds (e.g. EE poses -> joint targets)."""

    def convert(self, chunk: np.ndarray, obs_time: float) -> np.ndarray: ...

    def reset(self) -> None: ...


class InferenceWorker:
    """Runs ``runner.predict_chunk`` in a daemon thread; ``start`` / ``stop`` / ``reset``."""

    def __init__(
        self,
        runner: ChunkRunner,
        aligner: ObservationAligner,
        schedule: ActionSchedule,
        clock: Callable[[], float],
        replan_horizon: float,
        poll: float = 0.002,
        priority: int = 0,
        converter: ChunkConverter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.runner, self.aligner, self.schedule, self.clock = runner, aligner, schedule, clock
        self.sleep = sleep  # the wait between polls: wall time, even on sim time; a test's clock moves here
        self.replan_horizon, self.poll, self.priority = replan_horizon, poll, priority
        self.converter = converter
        self.latencies = deque(maxlen=1000)  # s, most recent inference calls
        self.convert_latencies = deque(maxlen=1000)  # s, most recent converter calls (IK per chunk)
        self.counters = Counter()
        self.last_error = ""
        self._planned_from = -np.inf  # time of the observation the last chunk was computed from
        self._enabled = threading.Event()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="simreal-inference", daemon=True)
        self._thread.start()

    def enable(self, on: bool) -> None:
        """Run inference (True) or idle (False); idling keeps the thread and the model warm."""
        (self._enabled.set if on else self._enabled.clear)()

    def reset(self) -> None:
        """Forget the schedule and the policy's internal state (new episode, after an e-stop)."""
        self.schedule.clear()
        self._planned_from = -np.inf
        self.runner.reset()
        if self.converter is not None:
            self.converter.reset()

    def close(self, timeout: float = 2.0) -> None:
        self._quit.set()
        self._enabled.set()
        self._thread.join(timeout)

    def latency_percentiles(self, which: str = "inference") -> tuple[float, float]:
        """(p50, p99) in seconds of the recent inference (or "convert") latencies (nan before the first)."""
        values = list(self.latencies if which == "inference" else self.convert_latencies)
        if not values:
            return float("nan"), float("nan")
        p50, p99 = np.percentile(np.asarray(values), [50, 99])
        return float(p50), float(p99)

    def _observe(self, now: float) -> tuple[dict[str, np.ndarray], float]:
        """The observation the policy reads at ``now``: its n_obs_steps history, 1 / fps apart."""
        steps = self.runner.n_obs_steps
        if steps == 1:
            return self.aligner.sample(now)
        return self.aligner.sample_history(now, steps, 1.0 / self.runner.fps)

    def _skip_round(self, counter: str, error: str, pause: float, log_it: bool = False) -> None:
        """Count and record why this round produced no chunk, then wait ``pause`` s before the next."""
        self.counters[counter] += 1
        self.last_error = error
        if log_it:
            log.exception(error)
        self.sleep(pause)

    def _loop(self) -> None:
        set_thread_priority(self.priority)  # > 0 only when the policy runs in another process
        while not self._quit.is_set():
            if not self._enabled.wait(0.1) or self._quit.is_set():
                continue
            now = self.clock()
            if self.schedule.horizon(now) > self.replan_horizon:
                self.sleep(self.poll)
                continue
            try:
                obs, obs_time = self._observe(now)
            except StaleObservation as exc:
                self._skip_round("stale_observation", str(exc), self.poll)
                continue
            if obs_time <= self._planned_from:
                self.sleep(self.poll)
                continue
            self._planned_from = obs_time
            start = time.perf_counter()
            try:
                chunk = self.runner.predict_chunk(obs)
            except Exception as exc:  # a failing policy must not kill the thread silently
                self._skip_round("inference_error", f"inference failed: {exc!r}", 0.1, log_it=True)
                continue
            self.latencies.append(time.perf_counter() - start)
            self.counters["inferences"] += 1
            if self.converter is not None:
                start = time.perf_counter()
                try:
                    chunk = self.converter.convert(chunk, obs_time)
                except StaleObservation as exc:  # no joint state to start the IK from
                    self._skip_round("stale_observation", str(exc), self.poll)
                    continue
                except Exception as exc:  # a bad chunk must not kill the thread silently either
                    self._skip_round("convert_error", f"action conversion failed: {exc!r}", 0.1, log_it=True)
                    continue
                self.convert_latencies.append(time.perf_counter() - start)
            self.counters["dropped_actions"] += self.schedule.merge(chunk, obs_time, self.clock())
