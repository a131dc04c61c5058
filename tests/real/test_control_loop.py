"""ControlLoop: fixed-rate ticks on absolute deadlines; a stalled tick is skipped over, not caught up."""

import time

import numpy as np

from simreal.real.control_loop import ControlLoop


def test_ticks_hold_the_rate_and_a_stall_is_skipped_not_burst():
    stall_at = 50
    count = []

    def tick():
        count.append(None)
        if len(count) == stall_at:
            time.sleep(0.035)  # 3.5 periods lost

    loop = ControlLoop(tick, 0.01)
    time.sleep(1.5)
    loop.close()
    times = np.asarray(loop.tick_times)
    periods = np.diff(times)
    assert loop.errors == 0
    assert loop.skipped >= 2  # the missed deadlines were dropped ...
    after = periods[stall_at:]
    assert after.min() > 0.0045, "ticks fired back to back after the stall"  # ... not fired in a burst
    span = times[-1] - times[0]
    assert abs((len(times) - 1 + loop.skipped) / span - 100.0) < 5.0  # deadlines stay on the 100 Hz grid


def test_a_failing_tick_is_counted_and_the_loop_goes_on():
    calls = []

    def tick():
        calls.append(None)
        raise ValueError("boom")

    loop = ControlLoop(tick, 0.01)
    time.sleep(0.3)
    loop.close()
    assert loop.errors == len(calls) >= 10
