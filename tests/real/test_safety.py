"""The safety layer alone (no ROS): limits, steps, NaN guard, watchdog, e-stop, start/stop, counters."""

import numpy as np
import pytest

from simreal.errors import UserError
from simreal.real.safety import SafetyConfig, SafetyLayer

DT = 0.01


def make_layer(**overrides) -> SafetyLayer:
    config = dict(lower=[-1.0, -1.0], upper=[1.0, 1.0], max_velocity=[10.0, 10.0], max_age=0.2)
    config.update(overrides)
    layer = SafetyLayer(SafetyConfig(**config))
    layer.start()
    return layer


def test_no_command_before_first_valid_observation():
    layer = make_layer()
    assert layer.filter(np.zeros(2), now=0.0, dt=DT) is None
    assert not layer.observe([np.nan, 0.0], stamp=0.0)
    assert layer.filter(np.zeros(2), now=0.0, dt=DT) is None
    assert layer.counters["blocked_no_observation"] == 2
    assert layer.counters["rejected_observation"] == 1
    assert layer.observe([0.5, -0.5], stamp=0.0)
    assert layer.filter(None, now=0.01, dt=DT).position.tolist() == [0.5, -0.5]


def test_clamps_to_position_limits_and_counts():
    layer = make_layer(max_velocity=[1e3, 1e3])
    layer.observe([0.9, 0.0], stamp=0.0)
    out = layer.filter(np.array([5.0, -0.2]), now=0.01, dt=DT)
    assert out.position.tolist() == [1.0, -0.2]
    assert out.reason == "clamped_limits"
    assert layer.counters["clamped_limits"] == 1


def test_bounds_step_by_velocity_and_max_step():
    layer = make_layer(max_velocity=[1.0, 1.0], max_step=[0.5, 0.004])
    layer.observe([0.0, 0.0], stamp=0.0)
    out = layer.filter(np.array([0.5, 0.5]), now=0.01, dt=DT)
    np.testing.assert_allclose(out.position, [0.01, 0.004])  # velocity * dt, then max_step
    assert layer.counters["clamped_step"] == 1
    out = layer.filter(np.array([0.015, 0.006]), now=0.02, dt=DT)
    np.testing.assert_allclose(out.position, [0.015, 0.006])
    assert out.reason == "ok"


def test_non_finite_command_rejected_and_last_safe_held():
    layer = make_layer()
    layer.observe([0.1, 0.2], stamp=0.0)
    for bad in ([np.nan, 0.0], [np.inf, 0.0], [0.0, 0.0, 0.0]):
        out = layer.filter(np.array(bad), now=0.01, dt=DT)
        assert out.position.tolist() == [0.1, 0.2] and out.reason == "rejected_command"
    assert layer.counters["rejected_command"] == 3


@pytest.mark.parametrize("reaction", ["hold", "zero_velocity"])
def test_watchdog_on_stale_joint_states(reaction):
    layer = make_layer(on_stale=reaction, max_velocity=[100.0, 100.0])
    layer.observe([0.0, 0.0], stamp=0.0)
    layer.filter(np.array([0.3, 0.3]), now=0.05, dt=DT)  # target moves away from the measured 0
    out = layer.filter(np.array([0.6, 0.6]), now=0.3, dt=DT)  # observation now 0.3 s old
    assert out.reason == "watchdog_stale"
    if reaction == "hold":
        assert out.position.tolist() == [0.3, 0.3] and out.velocity is None
    else:
        assert out.position.tolist() == [0.0, 0.0] and out.velocity.tolist() == [0.0, 0.0]
    assert layer.counters["watchdog_stale"] == 1
    layer.observe([0.0, 0.0], stamp=0.3)
    assert layer.filter(np.array([0.35, 0.35]), now=0.31, dt=DT).reason == "ok"


def test_other_stale_input_trips_watchdog():
    layer = make_layer()
    layer.observe([0.0, 0.0], stamp=0.0)
    out = layer.filter(np.array([0.5, 0.5]), now=0.01, dt=DT, stale="camera 0.5 s old")
    assert out.reason == "watchdog_stale" and out.position.tolist() == [0.0, 0.0]


def test_estop_latches_until_reset_and_resumes_from_measured():
    layer = make_layer(max_velocity=[100.0, 100.0])
    layer.observe([0.0, 0.0], stamp=0.0)
    layer.filter(np.array([0.5, 0.5]), now=0.01, dt=DT)
    layer.estop()
    layer.start()  # start does not clear the latch
    assert layer.filter(np.array([0.5, 0.5]), now=0.02, dt=DT) is None
    assert layer.counters["blocked_estop"] == 1
    layer.observe([0.2, 0.1], stamp=0.02)
    layer.reset_estop()
    assert layer.filter(None, now=0.03, dt=DT).position.tolist() == [0.2, 0.1]


def test_stop_blocks_and_start_resumes():
    layer = make_layer()
    layer.observe([0.0, 0.0], stamp=0.0)
    layer.stop()
    assert layer.filter(np.zeros(2), now=0.01, dt=DT) is None
    assert layer.counters["blocked_stopped"] == 1
    layer.start()
    assert layer.filter(np.zeros(2), now=0.02, dt=DT) is not None


@pytest.mark.parametrize(
    "bad",
    [
        dict(lower=[1.0, 0.0], upper=[0.0, 1.0]),
        dict(max_velocity=[0.0, 1.0]),
        dict(max_age=0.0),
        dict(on_stale="coast"),
        dict(upper=[1.0]),
    ],
)
def test_bad_config_is_a_user_error(bad):
    with pytest.raises(UserError):
        make_layer(**bad)
