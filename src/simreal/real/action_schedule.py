"""Time-stamped action chunks with a receding horizon, sampled at the controller rate.

A chunk predicted from an observation taken at ``obs_time`` holds actions due at ``obs_time + (i + 1) *
dt`` (i = 0, 1, ...; ``dt`` = 1 / policy rate): in the dataset (and ``simreal eval``) action i is the
target applied through the control period that follows observation i, so the robot is to reach it by
that period's end. Re-planning when the schedule runs out then gives each chunk exactly the periods it
had in training, its last action included (Diffusion Policy's real-robot runner, with the targets
stamped at the end of their period rather than the start). When a chunk arrives,
actions whose time is already past (``< now + latency``) are dropped and counted, and the rest replace
whatever the schedule held from their first time on: the newest prediction wins. The controller samples
the schedule by linear interpolation, so a 20 Hz policy drives a 100-500 Hz controller smoothly.
Times are seconds on the node's clock.
"""

from __future__ import annotations

import threading

import numpy as np


def due_times(obs_time: float, count: int, policy_dt: float) -> np.ndarray:
    """When each of a chunk's ``count`` actions predicted from the observation at ``obs_time`` is due."""
    return obs_time + policy_dt * np.arange(1, count + 1)


class ActionSchedule:
    """Thread-safe schedule of (time, action) points; ``merge`` from inference, ``sample`` from control."""

    def __init__(self, policy_dt: float, latency: float = 0.0):
        self.policy_dt = float(policy_dt)
        self.latency = float(latency)
        self._times = np.zeros(0)
        self._actions: np.ndarray | None = None
        self._lock = threading.Lock()
        self.dropped = 0  # actions that arrived too late to be executed
        self.generation = 0  # merges so far: the control loop sees when a new chunk took over
        self.obs_time = float("nan")  # observation time of the latest merged chunk

    def merge(self, chunk: np.ndarray, obs_time: float, now: float) -> int:
        """Add a (T, A) chunk predicted from an observation at ``obs_time``; returns how many were dropped."""
        chunk = np.atleast_2d(np.asarray(chunk, dtype=np.float64))
        times = due_times(obs_time, len(chunk), self.policy_dt)
        fresh = times >= now + self.latency
        dropped = int((~fresh).sum())
        with self._lock:
            self.dropped += dropped
            if not fresh.any():
                return dropped
            times, chunk = times[fresh], chunk[fresh]
            self.generation += 1
            self.obs_time = float(obs_time)
            keep = self._times < times[0]
            if self._actions is None or self._actions.shape[1] != chunk.shape[1]:
                self._times, self._actions = times, chunk
            else:
                self._times = np.concatenate([self._times[keep], times])
                self._actions = np.concatenate([self._actions[keep], chunk])
        return dropped

    def sample(self, t: float) -> np.ndarray | None:
        """The action at time ``t``: interpolated between scheduled points, the first one before the
        schedule starts, the last one after it ends; None when nothing was ever scheduled."""
        with self._lock:
            if self._actions is None:
                return None
            times, actions = self._times, self._actions
            j = int(np.searchsorted(times, t, side="right"))
            if j > 1:  # forget points that can no longer be interpolated (keep one before t)
                self._times, self._actions = times[j - 1 :], actions[j - 1 :]
                times, actions, j = self._times, self._actions, 1
            if j == 0:
                return actions[0].copy()
            if j == len(times):
                return actions[-1].copy()
            w = (t - times[0]) / (times[1] - times[0])
            return (1.0 - w) * actions[0] + w * actions[1]

    def horizon(self, t: float) -> float:
        """Seconds of scheduled actions left after ``t`` (0 when exhausted)."""
        with self._lock:
            return max(0.0, float(self._times[-1]) - t) if len(self._times) else 0.0

    def depth(self, t: float) -> int:
        """Number of scheduled actions still ahead of ``t`` (the queue depth)."""
        with self._lock:
            return int((self._times > t).sum())

    def clear(self) -> None:
        with self._lock:
            self._times, self._actions = np.zeros(0), None
