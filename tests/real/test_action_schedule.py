"""Receding-horizon action schedule and latest-at-or-before observation alignment (no ROS)."""

import numpy as np
import pytest

from simreal.real.action_schedule import ActionSchedule
from simreal.real.observation_spec import ObservationSpec
from simreal.real.time_alignment import ObservationAligner, StaleObservation


def test_chunk_stamped_from_observation_time_and_late_actions_dropped():
    schedule = ActionSchedule(policy_dt=0.05)
    chunk = np.arange(8, dtype=float)[:, None] * np.ones((1, 2))  # action i == i
    dropped = schedule.merge(chunk, obs_time=1.0, now=1.12)  # actions at 1.00, 1.05, 1.10 are past
    assert dropped == 3 and schedule.dropped == 3
    np.testing.assert_allclose(schedule.sample(1.15), [3.0, 3.0])
    np.testing.assert_allclose(schedule.sample(1.175), [3.5, 3.5])  # linear interpolation
    assert schedule.depth(1.175) == 4
    assert schedule.horizon(1.175) == pytest.approx(0.175)
    np.testing.assert_allclose(schedule.sample(5.0), [7.0, 7.0])  # exhausted: last action held


def test_newer_chunk_replaces_the_tail():
    schedule = ActionSchedule(policy_dt=0.1)
    schedule.merge(np.zeros((5, 1)), obs_time=0.0, now=0.0)
    schedule.merge(np.ones((5, 1)), obs_time=0.2, now=0.2)
    assert schedule.sample(0.1)[0] == 0.0  # sampled forward in time, as the control loop does
    assert schedule.sample(0.15)[0] == pytest.approx(0.5)
    assert schedule.sample(0.2)[0] == 1.0
    assert schedule.generation == 2 and schedule.obs_time == 0.2


def test_fully_stale_chunk_changes_nothing():
    schedule = ActionSchedule(policy_dt=0.1)
    assert schedule.sample(0.0) is None
    assert schedule.merge(np.ones((3, 2)), obs_time=0.0, now=1.0) == 3
    assert schedule.sample(1.0) is None


SPEC = ObservationSpec.from_dict(
    {
        "max_age": 0.2,
        "features": {
            "observation.state": [
                {"topic": "/joint_states", "type": "sensor_msgs/JointState", "joints": ["a", "b"]},
                {"topic": "/ee_pose", "type": "geometry_msgs/PoseStamped"},
            ],
            "observation.images.front": {"topic": "/front", "type": "sensor_msgs/Image"},
        },
    }
)


def test_aligner_takes_latest_at_or_before_tick_and_gates_age():
    aligner = ObservationAligner(SPEC)
    for t in (0.0, 0.1, 0.2):
        aligner.push("observation.state", 0, t, np.full(2, t))
        aligner.push("observation.state", 1, t, np.full(7, t))
    aligner.push("observation.images.front", 0, 0.05, np.zeros((4, 4, 3), np.uint8))
    obs, obs_time = aligner.sample(0.15)
    assert obs["observation.state"].shape == (9,)
    assert np.all(obs["observation.state"] == 0.1) and obs_time == 0.1
    with pytest.raises(StaleObservation, match="observation.images.front"):
        aligner.sample(0.3)  # the image is 0.25 s old
    age, name = aligner.stalest(0.3)
    assert age == pytest.approx(0.25) and "/front" in name


def test_aligner_memory_bounded_under_flood():
    aligner = ObservationAligner(SPEC, history=8)
    for i in range(10_000):
        aligner.push("observation.state", 0, i * 1e-4, np.zeros(2))
    assert len(aligner._rings[("observation.state", 0)]) == 8


def test_aligner_history_takes_one_sample_per_period_ending_at_the_tick():
    aligner = ObservationAligner(SPEC)
    for t in np.arange(0.0, 0.3, 0.01):
        aligner.push("observation.state", 0, t, np.full(2, t))
        aligner.push("observation.state", 1, t, np.full(7, t))
        aligner.push("observation.images.front", 0, t, np.full((4, 4, 3), round(t * 100), np.uint8))
    obs, obs_time = aligner.sample_history(0.255, 2, 0.05)
    assert obs["observation.state"].shape == (2, 9) and obs["observation.images.front"].shape == (2, 4, 4, 3)
    np.testing.assert_allclose(obs["observation.state"][:, 0], [0.20, 0.25])
    assert obs_time == pytest.approx(0.25)
    with pytest.raises(StaleObservation, match="nothing received yet"):
        aligner.sample_history(0.02, 2, 0.05)  # the older frame would be before the first sample
