"""The sim-time path over DDS: sim_robot_node publishing /clock at a real-time factor, and a policy node
with use_sim_time whose observation ages, watchdog, action schedule and velocity bound run on /clock.

Against the real sim process at 0.5x and 2x real time, and against a /clock this test drives (paused,
slowed) with the fake arm on the same clock, so that sim-time and wall-time behaviour tell apart."""

import threading
import time

import numpy as np
import pytest
import yaml
from fake_arm import ARM, HOME, LOWER, NAMES, UPPER, FakeArm, ScriptedChunkPolicy
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import node_process, wait_for, write_params
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from simreal.real import messages
from simreal.real.policy_node import PolicyNode

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

STATE = [
    {"topic": "/joint_states", "type": "sensor_msgs/JointState", "joints": NAMES},
    {"topic": "/ee_pose", "type": "geometry_msgs/PoseStamped"},
]
CLOUD = {"observation.pointcloud": {"dtype": "float32", "shape": (512, 3), "names": None}}
MAX_AGE = 0.3  # s of sim time, for joint states and every observation topic
JOINT1_SPEED = 0.5  # rad/s: max_velocity of joint1, so a far target moves it at exactly this rate


def sim_time_policy(tmp_path, runner, context, cloud=False, **overrides) -> PolicyNode:
    features = {"observation.state": STATE}
    if cloud:
        features["observation.pointcloud"] = {"topic": "/camera/points", "type": "sensor_msgs/PointCloud2"}
    spec = tmp_path / "observations.yaml"
    spec.write_text(yaml.safe_dump({"max_age": MAX_AGE, "features": features}))
    params = {
        "use_sim_time": True,
        "observation_spec": str(spec),
        "joint_names": ARM,
        "gripper_joint": "gripper",
        "gripper_open_position": 0.08,
        "lower_limits": LOWER,
        "upper_limits": UPPER,
        "max_velocity": [JOINT1_SPEED] + [2.0] * 6 + [5.0],
        "max_age": MAX_AGE,
        "control_rate": 100.0,
        "control_priority": 0,
        **overrides,
    }
    return PolicyNode(
        runner, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()], context=context
    )


class Probe(Node):
    """Records /clock, joint-state stamps and every command paired with the /clock value it arrived at."""

    def __init__(self, context):
        super().__init__("probe", context=context)
        self.lock = threading.Lock()
        self.clock: list[tuple[float, float]] = []  # (wall monotonic, sim s)
        self.joint_stamps: list[float] = []
        self.commands: list[tuple[float, np.ndarray]] = []  # (sim s at arrival, command)
        self.q = None
        self.create_subscription(Clock, "/clock", self._on_clock, 100)
        self.create_subscription(JointState, "/joint_states", self._on_joints, qos_profile_sensor_data)
        self.create_subscription(
            Float64MultiArray, "/forward_position_controller/commands", self._on_cmd, 100
        )

    def sim_now(self) -> float:
        with self.lock:
            return self.clock[-1][1] if self.clock else float("nan")

    def _on_clock(self, msg):
        with self.lock:
            self.clock.append((time.monotonic(), messages.time_to_seconds(msg.clock)))

    def _on_joints(self, msg):
        with self.lock:
            self.joint_stamps.append(messages.time_to_seconds(msg.header.stamp))
            self.q = messages.joint_positions(msg, NAMES)

    def _on_cmd(self, msg):
        command = messages.float64_array_to_numpy(msg)
        with self.lock:
            self.commands.append((self.clock[-1][1] if self.clock else float("nan"), command))


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_sim_robot_clock_drives_the_policy_node_at_any_real_time_factor(ros, tmp_path, factor):
    """sim_robot_node steps ``factor`` x real time and publishes /clock; its stamps and the policy node's
    whole loop are on that clock: no observation is ever stale (the cloud arrives at 5 Hz of sim time, a
    0.2 s period under max_age 0.3 whatever the factor), and joint1 moves at its max_velocity per
    simulated second, not per wall second."""
    sim_params = {
        "task": "pick_place",
        "observation": "state,pointcloud,cameras=front",
        "seed": 7,
        "publish_clock": True,
        "real_time_factor": factor,
        "camera_rate": 5.0,
    }
    runner = ScriptedChunkPolicy(np.zeros(8), step=0.5, extra=CLOUD)  # target set once the arm is seen
    probe = ros.add(Probe(ros.context))
    node = ros.add(sim_time_policy(tmp_path, runner, ros.context, cloud=True, autostart=False))
    ros.start()
    params_file = write_params(tmp_path / "sim.yaml", "sim_robot_node", sim_params)
    with node_process(ros, "simreal.real.sim_robot_node", params_file) as proc:
        assert wait_for(lambda: probe.q is not None or proc.poll() is not None, timeout=60), "no joint states"
        assert proc.poll() is None, proc.stdout.read()
        assert wait_for(lambda: len(probe.clock) > 50, timeout=10)
        runner.target = np.append(probe.q[:7] + [1.0, 0, 0, 0, 0, 0, 0], 0.0)  # joint1 +1 rad, gripper open
        node.start()
        # 1 s of simulated motion at 0.5 rad/s (joint1 needs 2 s to arrive).
        assert wait_for(lambda: len(probe.commands) > 20 and probe.sim_now() - probe.commands[0][0] > 1.0, 15)
        diag = node.diagnostics()
        with probe.lock:
            clock, stamps, commands = np.array(probe.clock), list(probe.joint_stamps), list(probe.commands)

    # /clock is simulation time from the node's start, advancing factor x 10 ms per 100 Hz tick.
    sim, wall = clock[:, 1], clock[:, 0]
    assert 0.0 <= sim[0] < 60.0 and np.all(np.diff(sim) > 0)
    assert np.mean(np.diff(sim)) == pytest.approx(0.01 * factor, rel=0.02)
    # Sim seconds per wall second, fitted over every arrival (a delivery delayed at either end does not
    # decide it). Timer ticks come late on a loaded machine, never early: the rate can only fall short.
    rate = np.polyfit(wall - wall[0], sim, 1)[0]
    assert 0.5 * factor < rate < 1.15 * factor, rate
    assert set(stamps) <= set(sim.tolist()) | {0.0}, "joint states stamped off the /clock grid"
    # The policy node ran on that clock: fresh data all along, plans made from sim-time observations.
    assert diag["inferences"] >= 2 and diag.get("safety_watchdog_stale", 0) == 0, diag
    assert diag.get("stale_observation", 0) <= 2, diag  # at most the start-up, before the first cloud
    assert 0.0 <= diag["obs_to_command_p50_ms"] < 500.0, diag
    # joint1's command ramps at max_velocity per simulated second.
    t = np.array([c[0] for c in commands])
    joint1 = np.array([c[1][0] for c in commands]) - commands[0][1][0]
    ramp = (joint1 > 0.05) & (joint1 < 0.45)
    assert ramp.sum() > 10, joint1
    slope = np.polyfit(t[ramp], joint1[ramp], 1)[0]
    assert slope == pytest.approx(JOINT1_SPEED, rel=0.15), (slope, factor)


class SimClock(Node):
    """A simulator's /clock driven by the test: 100 Hz of wall time, ``factor`` x real time (0 pauses)."""

    def __init__(self, context, factor: float = 1.0):
        super().__init__("sim_clock", context=context)
        self.factor, self.t = factor, 1.0
        pub = self.create_publisher(Clock, "/clock", 10)

        def tick():
            self.t += 0.01 * self.factor
            if self.factor:
                pub.publish(Clock(clock=messages.seconds_to_time(self.t)))

        self.create_timer(0.01, tick)


def sim_time_loop(ros, tmp_path, factor):
    """SimClock + FakeArm on sim time (its timer and stamps follow /clock) + sim-time policy node."""
    clock = ros.add(SimClock(ros.context, factor))
    arm = ros.add(FakeArm(context=ros.context, parameter_overrides=[Parameter("use_sim_time", value=True)]))
    node = ros.add(
        sim_time_policy(tmp_path, ScriptedChunkPolicy(np.append(HOME + 0.5, 0.0), step=0.005), ros.context)
    )
    ros.start()
    assert wait_for(lambda: len(arm.received()) > 20, timeout=10), node.diagnostics()
    return clock, arm, node


def test_a_paused_clock_sends_nothing_and_trips_nothing(ros, tmp_path):
    """A paused simulation is not a stale one: while /clock stands still for 5 x max_age of wall time
    the policy node sends no command and its watchdog stays quiet; when the clock resumes, so does the
    motion, from where it was."""
    clock, arm, node = sim_time_loop(ros, tmp_path, factor=1.0)
    stale_before = node.safety.counters["watchdog_stale"]
    clock.factor = 0.0
    paused = time.monotonic()
    time.sleep(5 * MAX_AGE)
    sent_while_paused = arm.received(since=paused + 0.1)  # 0.1 s for commands already in flight
    assert sent_while_paused == [], f"{len(sent_while_paused)} commands while the clock was paused"
    assert node.safety.counters["watchdog_stale"] == stale_before, node.diagnostics()
    last = arm.received()[-1][1]
    clock.factor = 1.0
    resumed = time.monotonic()
    assert wait_for(lambda: len(arm.received(since=resumed)) > 30, timeout=5), node.diagnostics()
    after = np.stack([c for _, c in arm.received(since=resumed)])
    assert np.abs(after[0, :7] - last[:7]).max() <= 2.0 * 0.05, "a jump across the pause"
    assert np.ptp(after[:, :7], axis=0).max() > 0, "the motion did not resume"
    assert node.safety.counters["watchdog_stale"] == stale_before, node.diagnostics()


def test_watchdog_counts_max_age_in_sim_time_on_a_slow_sim(ros, tmp_path):
    """At a quarter of real time, joint states that stop trip the watchdog once max_age of simulated
    time has passed (about 4 x max_age of wall time), then the last safe target is held."""
    clock, arm, node = sim_time_loop(ros, tmp_path, factor=0.25)
    assert node.safety.counters["watchdog_stale"] == 0, node.diagnostics()
    arm.silent = True
    silenced, silenced_sim = time.monotonic(), node._now()
    assert wait_for(lambda: node.safety.counters["watchdog_stale"] > 0, timeout=5, interval=0.002)
    tripped, tripped_sim = time.monotonic(), node._now()
    # The last joint state is at most one 10 ms (sim) arm period older than `silenced_sim`.
    assert MAX_AGE - 0.02 <= tripped_sim - silenced_sim <= MAX_AGE + 0.05, tripped_sim - silenced_sim
    assert tripped - silenced > 0.7 * MAX_AGE / 0.25, "tripped on wall time"
    time.sleep(0.5)
    held = np.stack([c for _, c in arm.received(since=tripped + 0.05)])
    assert len(held) > 10 and np.all(held == held[0]), "commands moved while the joint states were stale"
