"""A dedicated thread that calls one function at a fixed rate against absolute deadlines.

Executor timers in rclpy share a thread with every subscription callback and wake late whenever a
callback (a 100 kB point cloud decode) or the inference thread holds the GIL. This loop instead owns its
thread: it sleeps with ``time.sleep`` until ``spin_margin`` before the deadline, then polls the clock,
so the OS wake-up latency is absorbed by the margin. Deadlines are absolute (start + k * period), so
lateness never accumulates into drift; deadlines less than half a period after a late tick are skipped
(counted) rather than fired in a burst. The interpreter's GIL switch interval is lowered so that a thread
holding the GIL hands it over within ``switch_interval`` rather than CPython's 5 ms (inference itself runs
in another process: see inference_process).
With ``priority`` > 0 the thread asks for SCHED_FIFO at that priority, as ros2_control's controller
manager does (50): other processes on a shared core then cannot delay a tick by a time slice. Without
the privilege (no root, no CAP_SYS_NICE, no rtprio limit) it runs at normal priority and says so.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from .node_runtime import set_thread_priority

log = logging.getLogger(__name__)


class ControlLoop:
    """Calls ``tick()`` every ``period`` s on its own daemon thread until ``close``.

    ``tick_times`` holds the perf_counter() time (s) of recent ticks for rate and jitter statistics;
    ``skipped`` counts deadlines dropped after a late tick.
    """

    def __init__(
        self,
        tick: Callable[[], None],
        period: float,
        spin_margin: float = 0.0007,
        switch_interval: float = 0.0005,
        priority: int = 0,
        name: str = "simreal-control",
    ):
        if period <= 0:
            raise ValueError("period must be positive")
        self.tick, self.period, self.spin_margin = tick, float(period), float(spin_margin)
        self.tick_times: deque[float] = deque(maxlen=5000)
        self.skipped = 0
        self.errors = 0
        self.priority = priority
        self.realtime = False  # whether SCHED_FIFO was granted
        if sys.getswitchinterval() > switch_interval:
            sys.setswitchinterval(switch_interval)
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        self._quit.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        self.realtime = set_thread_priority(self.priority)
        clock = time.perf_counter
        deadline = clock() + self.period
        while not self._quit.is_set():
            remaining = deadline - clock()
            if remaining > self.spin_margin:
                time.sleep(remaining - self.spin_margin)
            while clock() < deadline:
                pass  # the last ~margin is polled: sleep() can wake late by the OS wake-up latency
            self.tick_times.append(clock())
            try:
                self.tick()
            except Exception:  # a failing tick must not end the command stream silently
                self.errors += 1
                log.exception("control tick failed")
            deadline += self.period
            # A late tick is never followed by one less than half a period later (no catch-up burst):
            # deadlines that close are dropped and counted.
            now = clock()
            if deadline < now + 0.5 * self.period:
                missed = int((now + 0.5 * self.period - deadline) // self.period) + 1
                self.skipped += missed
                deadline += missed * self.period
