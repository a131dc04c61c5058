"""Latest-at-or-before sampling of asynchronous topics at a control tick, gated by age.

Each topic source keeps a ring of its recent (stamp, value); the ring length bounds memory whatever
the publishing rate (a 10x flood only overwrites faster). The default ring (64 samples) spans the
policy's observation history (one period of 50 ms at 20 Hz) for topics up to 1 kHz.
Times are seconds on the node's clock.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from .observation_spec import ObservationSpec


class StaleObservation(Exception):
    """A feature has no sample at or before the tick that is younger than max_age."""


class ObservationAligner:
    """Thread-safe store of the recent samples of every topic source of an ObservationSpec."""

    def __init__(self, spec: ObservationSpec, history: int = 64):
        self.spec = spec
        self._rings = {(name, i): deque(maxlen=history) for name, i, _ in spec.sources()}
        self._lock = threading.Lock()

    def push(self, feature: str, index: int, stamp: float, value: np.ndarray) -> None:
        """Add a decoded sample of source ``index`` of ``feature`` taken at ``stamp`` (s)."""
        ring = self._rings[(feature, index)]
        with self._lock:
            if ring and stamp < ring[-1][0]:
                return  # out of order: older than what we hold, never the latest
            ring.append((stamp, value))

    def sample(self, t: float) -> tuple[dict[str, np.ndarray], float]:
        """(observation dict, observation time) from the latest sample at or before ``t`` of each source.

        The observation time is the newest stamp used. Raises StaleObservation naming the feature when
        a source has nothing at or before ``t`` younger than ``max_age``.
        """
        obs, newest = {}, -np.inf
        with self._lock:
            for name, sources in self.spec.features.items():
                parts = []
                for i in range(len(sources)):
                    hit = next((s for s in reversed(self._rings[(name, i)]) if s[0] <= t), None)
                    if hit is None:
                        raise StaleObservation(f"{name} ({sources[i].topic}): nothing received yet")
                    if t - hit[0] > self.spec.max_age:
                        raise StaleObservation(f"{name} ({sources[i].topic}): {t - hit[0]:.3f} s old")
                    parts.append(hit[1])
                    newest = max(newest, hit[0])
                obs[name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        return obs, newest

    def sample_history(self, t: float, steps: int, period: float) -> tuple[dict[str, np.ndarray], float]:
        """``steps`` observations ``period`` s apart ending at ``t``, each as ``sample`` takes it, stacked
        oldest first per feature as (steps, *shape); the time is the newest stamp of the last one.

        This is the history a policy saw in training (frames 1 / fps apart). Raises StaleObservation
        when any of them is missing or too old for its own time.
        """
        frames = [self.sample(t - (steps - 1 - k) * period) for k in range(steps)]
        stacked = {name: np.stack([obs[name] for obs, _ in frames]) for name in frames[-1][0]}
        return stacked, frames[-1][1]

    def newest_stamp(self) -> float:
        """Stamp of the most recent sample of any source (-inf when empty)."""
        with self._lock:
            return max((r[-1][0] for r in self._rings.values() if r), default=-np.inf)

    def stalest(self, t: float) -> tuple[float, str]:
        """(age s, "feature (topic)") of the source whose latest sample is oldest at ``t`` (inf if none)."""
        worst, name = -np.inf, ""
        with self._lock:
            for (feature, i), ring in self._rings.items():
                age = t - ring[-1][0] if ring else np.inf
                if age > worst:
                    worst, name = age, f"{feature} ({self.spec.features[feature][i].topic})"
        return worst, name
