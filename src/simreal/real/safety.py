"""The safety layer that stands in front of every joint command simreal sends (pure Python, no ROS).

Order of checks for each command (one control tick):

1. stopped, e-stop latched, or no valid observation yet  -> no command at all;
2. joint observation older than ``max_age`` (watchdog)    -> the configured stale reaction;
3. non-finite or wrongly shaped command                   -> rejected, the last safe target is held;
4. outside the position limits                            -> clamped;
5. further from the last safe target than ``max_velocity * dt`` or ``max_step`` -> clamped.

Every blocked, rejected or clamped command increments a counter in ``SafetyLayer.counters`` (exposed on
the node's diagnostics) and is logged, at most once per second per reason so a flood does not become a
log flood. Positions are in the joint's unit (rad, or m / normalised [0, 1] for a gripper), times in s.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from simreal.errors import UserError

log = logging.getLogger(__name__)

STALE_REACTIONS = ("hold", "zero_velocity")


@dataclass
class SafetyConfig:
    """Limits for one command vector of J joints.

    lower, upper: position limits (J,). max_velocity: largest speed (J,) in units/s, so the largest
    change per tick is ``max_velocity * dt``. max_step: optional absolute bound on the change per tick.
    max_age: an observation older than this (s) trips the watchdog. on_stale: "hold" keeps sending the
    last safe target; "zero_velocity" sends the last measured position with zero velocity (stop where
    the robot is now).
    """

    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    max_step: np.ndarray | None = None
    max_age: float = 0.2
    on_stale: str = "hold"

    def __post_init__(self):
        self.lower = np.asarray(self.lower, dtype=np.float64)
        self.upper = np.asarray(self.upper, dtype=np.float64)
        self.max_velocity = np.broadcast_to(np.asarray(self.max_velocity, dtype=np.float64), self.lower.shape)
        if self.max_step is not None:
            self.max_step = np.broadcast_to(np.asarray(self.max_step, dtype=np.float64), self.lower.shape)
        if self.lower.shape != self.upper.shape or self.lower.ndim != 1:
            raise UserError(f"safety limits: lower {self.lower.shape} and upper {self.upper.shape} differ")
        if np.any(self.lower > self.upper):
            raise UserError("safety limits: some lower limit is above its upper limit")
        if np.any(self.max_velocity <= 0) or (self.max_step is not None and np.any(self.max_step <= 0)):
            raise UserError("safety limits: max_velocity and max_step must be positive")
        if self.max_age <= 0:
            raise UserError(f"safety: max_age must be positive, got {self.max_age}")
        if self.on_stale not in STALE_REACTIONS:
            raise UserError(f"safety: on_stale must be one of {STALE_REACTIONS}, got {self.on_stale!r}")


@dataclass
class SafeCommand:
    """What may be sent this tick: position targets (J,) and, for a stop, zero velocities."""

    position: np.ndarray
    velocity: np.ndarray | None = None
    reason: str = "ok"


@dataclass
class SafetyLayer:
    """Stateful filter of joint commands; see the module docstring for the order of checks."""

    config: SafetyConfig
    counters: Counter = field(default_factory=Counter)
    running: bool = False
    estopped: bool = False
    _measured: np.ndarray | None = None
    _measured_time: float = -np.inf
    _last_safe: np.ndarray | None = None
    _last_log: dict = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.config.lower)

    @property
    def last_safe(self) -> np.ndarray | None:
        """The last target that passed every check (None before the first observation)."""
        return None if self._last_safe is None else self._last_safe.copy()

    # --- inputs -----------------------------------------------------------------------------

    def observe(self, position: np.ndarray, stamp: float) -> bool:
        """Record a measured joint position (J,) taken at ``stamp`` (s). Non-finite ones are rejected.

        Returns whether the observation was accepted (a rejected one does not feed the watchdog).
        """
        position = np.asarray(position, dtype=np.float64)
        if position.shape != (self.num_joints,) or not np.isfinite(position).all() or not np.isfinite(stamp):
            self._count("rejected_observation", f"observation {position.shape} not finite or wrong size")
            return False
        self._measured, self._measured_time = position.copy(), float(stamp)
        if self._last_safe is None:
            # The first target is where the robot is, clamped into the limits.
            self._last_safe = np.clip(position, self.config.lower, self.config.upper)
        return True

    def start(self) -> None:
        """Allow commands (does not clear a latched e-stop). Commands resume from the measured position:
        the robot may have been moved while stopped (a new episode, a human)."""
        self.running = True
        if self._measured is not None:
            self._last_safe = np.clip(self._measured, self.config.lower, self.config.upper)

    def stop(self) -> None:
        """Stop sending commands until ``start``."""
        self.running = False

    def estop(self) -> None:
        """Latch the emergency stop: no command until ``reset_estop``."""
        if not self.estopped:
            log.warning("e-stop latched")
        self.estopped = True

    def reset_estop(self) -> None:
        """Release the e-stop latch; commands resume from the current measured position."""
        self.estopped = False
        if self._measured is not None:
            self._last_safe = np.clip(self._measured, self.config.lower, self.config.upper)

    # --- the filter ---------------------------------------------------------------------------

    def filter(
        self, command: np.ndarray | None, now: float, dt: float, stale: str | None = None
    ) -> SafeCommand | None:
        """The command to send at time ``now`` (s) for a tick of ``dt`` (s), or None for "send nothing".

        ``command`` is the requested position target (J,), or None when there is nothing new to send
        (the last safe target is then held). ``stale`` names another input (a camera) that the caller
        found older than max_age: it trips the watchdog like stale joint states do.
        """
        if self.estopped:
            self._count("blocked_estop", "e-stop latched")
            return None
        if not self.running:
            self._count("blocked_stopped", "stopped")
            return None
        if self._last_safe is None:
            self._count("blocked_no_observation", "no valid observation yet")
            return None
        if stale is None and now - self._measured_time > self.config.max_age:
            stale = f"joint states {now - self._measured_time:.3f} s old"
        if stale is not None:
            self._count("watchdog_stale", stale)
            if self.config.on_stale == "zero_velocity":
                self._last_safe = np.clip(self._measured, self.config.lower, self.config.upper)
                return SafeCommand(self._last_safe.copy(), np.zeros(self.num_joints), "watchdog_stale")
            return SafeCommand(self._last_safe.copy(), None, "watchdog_stale")
        if command is None:
            return SafeCommand(self._last_safe.copy(), None, "hold")
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (self.num_joints,) or not np.isfinite(command).all():
            self._count("rejected_command", f"command {command.shape} not finite or wrong size")
            return SafeCommand(self._last_safe.copy(), None, "rejected_command")
        reason = "ok"
        clamped = np.clip(command, self.config.lower, self.config.upper)
        if np.any(clamped != command):
            reason = "clamped_limits"
            self._count(reason, f"outside limits by {np.max(np.abs(clamped - command)):.4f}")
        bound = self.config.max_velocity * max(dt, 0.0)
        if self.config.max_step is not None:
            bound = np.minimum(bound, self.config.max_step)
        step = np.clip(clamped - self._last_safe, -bound, bound)
        if np.any(np.abs(step - (clamped - self._last_safe)) > 1e-12):
            reason = "clamped_step" if reason == "ok" else reason
            self._count("clamped_step", f"step {np.max(np.abs(clamped - self._last_safe)):.4f} over bound")
        self._last_safe = self._last_safe + step
        return SafeCommand(self._last_safe.copy(), None, reason)

    def _count(self, reason: str, detail: str) -> None:
        self.counters[reason] += 1
        # Throttled to one line per second per reason: the counters carry the exact numbers.
        now = time.monotonic()
        if now - self._last_log.get(reason, -np.inf) >= 1.0:
            self._last_log[reason] = now
            log.warning("safety: %s (%s), %d so far", reason, detail, self.counters[reason])
