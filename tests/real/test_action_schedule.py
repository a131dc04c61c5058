"""Receding-horizon action schedule and latest-at-or-before observation alignment (no ROS)."""

import threading

import numpy as np
import pytest

from simreal.real.action_schedule import ActionSchedule
from simreal.real.inference_worker import InferenceWorker
from simreal.real.observation_spec import ObservationSpec
from simreal.real.time_alignment import ObservationAligner, StaleObservation


def test_chunk_stamped_from_observation_time_and_late_actions_dropped():
    schedule = ActionSchedule(policy_dt=0.05)
    chunk = np.arange(8, dtype=float)[:, None] * np.ones((1, 2))  # action i == i, due at 1.0 + 0.05 (i + 1)
    dropped = schedule.merge(chunk, obs_time=1.0, now=1.12)  # actions due at 1.05 and 1.10 are past
    assert dropped == 2 and schedule.dropped == 2
    np.testing.assert_allclose(schedule.sample(1.15), [2.0, 2.0])
    np.testing.assert_allclose(schedule.sample(1.175), [2.5, 2.5])  # linear interpolation
    assert schedule.depth(1.175) == 5
    assert schedule.horizon(1.175) == pytest.approx(0.225)
    np.testing.assert_allclose(schedule.sample(5.0), [7.0, 7.0])  # exhausted: last action held


def test_newer_chunk_replaces_the_tail():
    schedule = ActionSchedule(policy_dt=0.1)
    schedule.merge(np.zeros((5, 1)), obs_time=0.0, now=0.0)  # due 0.1 ... 0.5
    schedule.merge(np.ones((5, 1)), obs_time=0.2, now=0.2)  # due 0.3 ... 0.7: replaces 0.3 on
    assert schedule.sample(0.2)[0] == 0.0  # sampled forward in time, as the control loop does
    assert schedule.sample(0.25)[0] == pytest.approx(0.5)
    assert schedule.sample(0.3)[0] == pytest.approx(1.0)
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


class CountingRunner:
    """A ChunkRunner whose chunk i is filled with i; it records each call's observation (its stamp)."""

    features = {"observation.state": {"shape": (1,)}, "action": {"shape": (1,)}}
    fps, n_obs_steps, controller = 50.0, 1, "joint_pos"

    def __init__(self, length=5):
        self.length, self.calls = length, []

    def predict_chunk(self, obs):
        self.calls.append(float(obs["observation.state"][0]))
        return np.full((self.length, 1), float(len(self.calls)))

    def reset(self):
        pass


class SimulatedClock:
    """Time that moves only when the worker sleeps on it, a millisecond tick at a time; each tick calls
    ``on_tick(now)`` (the sensor). Inference takes no time on it, so the schedule's logic is tested
    apart from how busy the machine is."""

    tick = 0.001

    def __init__(self, on_tick):
        self.on_tick, self.ticks = on_tick, 0
        self._moved = threading.Condition()

    def __call__(self) -> float:
        return self.ticks * self.tick

    def sleep(self, seconds: float) -> None:
        for _ in range(max(1, round(seconds / self.tick))):
            self.ticks += 1
            self.on_tick(self())
        with self._moved:
            self._moved.notify_all()

    def wait_until(self, t: float) -> None:
        """Block the test's thread (on the wall clock) until the worker has slept past ``t``."""
        with self._moved:
            assert self._moved.wait_for(lambda: self() >= t, timeout=30), f"simulated time stuck at {self()}"


def state_aligner(max_age: float) -> ObservationAligner:
    source = {"topic": "/s", "type": "sensor_msgs/JointState", "joints": ["a"]}
    return ObservationAligner(
        ObservationSpec.from_dict({"max_age": max_age, "features": {"observation.state": source}})
    )


def run_worker(runner, aligner, clock, replan_horizon: float, until: float) -> ActionSchedule:
    """Run an InferenceWorker on `clock` until simulated time `until`; its schedule."""
    schedule = ActionSchedule(policy_dt=1 / runner.fps)
    worker = InferenceWorker(
        runner, aligner, schedule, clock, replan_horizon=replan_horizon, poll=0.001, sleep=clock.sleep
    )
    worker.enable(True)
    clock.wait_until(until)
    worker.close()
    return schedule


@pytest.mark.parametrize("replan_horizon, executed", [(0.0, 5), (0.04, 3)])
def test_worker_replans_when_the_chunk_is_used_up(replan_horizon, executed):
    """With replan_horizon 0 every chunk runs all its actions (5 at 50 Hz: due 0.02 ... 0.1 s after its
    observation) before the next observation, as in training; a horizon of 2 periods re-plans after 3."""
    aligner = state_aligner(max_age=0.5)
    clock = SimulatedClock(lambda now: aligner.push("observation.state", 0, now, np.array([now])))  # 1 kHz
    runner = CountingRunner()
    schedule = run_worker(runner, aligner, clock, replan_horizon, until=0.8)
    gaps = np.diff(runner.calls)  # between the observations of consecutive chunks (the value is its stamp)
    assert len(gaps) >= 6 and schedule.dropped == 0
    np.testing.assert_allclose(gaps, executed / runner.fps, atol=1.5 * clock.tick)


def test_worker_waits_for_a_newer_observation_when_the_sensor_stalls():
    """One observation, then silence (within max_age): one chunk from it, not a re-plan loop on it."""
    aligner = state_aligner(max_age=1.0)
    aligner.push("observation.state", 0, 0.0, np.array([0.0]))
    # the chunk's 5 actions are used up after 0.1 s; the sensor speaks again at 0.4 s
    clock = SimulatedClock(
        lambda now: round(now, 6) == 0.4 and aligner.push("observation.state", 0, now, np.array([1.0]))
    )
    runner = CountingRunner()
    schedule = run_worker(runner, aligner, clock, replan_horizon=0.0, until=0.5)
    assert runner.calls == [0.0, 1.0] and schedule.dropped == 0, (runner.calls, schedule.dropped)
