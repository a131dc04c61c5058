"""Test doubles for the parts around the policy node: an arm that follows its commands, a scripted
chunk policy with the runner's interface (until a trained checkpoint is used), and a command recorder.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from simreal.real import messages

ARM = [f"joint{i}" for i in range(1, 8)]
NAMES = [*ARM, "gripper"]
OPEN_WIDTH = 0.08  # m
LOWER = [-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973, 0.0]
UPPER = [2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973, 1.0]
HOME = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.8])


class ScriptedChunkPolicy:
    """Runner-shaped double: each chunk walks the joints from the observed state toward ``target``.

    Deterministic; ``latency`` (s) sleeps inside predict_chunk to stand in for a network's inference.
    """

    fps = 20.0
    n_obs_steps = 1

    def __init__(self, target, chunk: int = 16, step: float = 0.02, latency: float = 0.0, extra=None):
        self.target, self.chunk, self.step, self.latency = np.asarray(target, float), chunk, step, latency
        self.features = {
            "observation.state": {"dtype": "float32", "shape": (15,), "names": None},
            "action": {"dtype": "float32", "shape": (8,), "names": NAMES},
            **(extra or {}),
        }
        self.calls = 0

    def predict_chunk(self, obs):
        self.calls += 1
        if self.latency:
            time.sleep(self.latency)
        q = np.append(obs["observation.state"][:7], 1.0 - obs["observation.state"][7] / OPEN_WIDTH)
        reach = self.step * np.arange(1, self.chunk + 1)[:, None]  # walk at `step` per action, stop there
        return q + np.clip(self.target - q, -reach, reach)

    def reset(self):
        pass


class FakeArm(Node):
    """Publishes /joint_states and /ee_pose at ``rate`` Hz; joints jump to each forward-position command.

    ``nan`` makes it publish NaN positions; ``silent`` stops it publishing. Commands are recorded with
    their receive time (time.monotonic()).
    """

    def __init__(self, rate: float = 100.0, controller: str = "forward_position_controller", **kwargs):
        super().__init__("fake_arm", **kwargs)
        self.q = np.append(HOME, OPEN_WIDTH)
        self.nan = False
        self.silent = False
        self.lock = threading.Lock()
        self.commands: list[tuple[float, np.ndarray]] = []
        self.js_pub = self.create_publisher(JointState, "/joint_states", qos_profile_sensor_data)
        self.pose_pub = self.create_publisher(PoseStamped, "/ee_pose", qos_profile_sensor_data)
        self.create_subscription(Float64MultiArray, f"/{controller}/commands", self._on_command, 10)
        self.create_subscription(JointTrajectory, f"/{controller}/joint_trajectory", self._on_trajectory, 10)
        self.create_timer(1.0 / rate, self._publish)

    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish(self):
        if self.silent:
            return
        q = np.full(8, np.nan) if self.nan else self.q
        self.js_pub.publish(messages.joint_state_msg(NAMES, q, stamp=self._now()))
        self.pose_pub.publish(
            messages.pose_msg([0.4, 0.0, 0.3], [1, 0, 0, 0], stamp=self._now(), frame_id="base")
        )

    def _record(self, command):
        with self.lock:
            self.commands.append((time.monotonic(), command))
        self.q = np.append(command[:7], OPEN_WIDTH * (1.0 - command[7]))

    def _on_command(self, msg):
        self._record(messages.float64_array_to_numpy(msg))

    def _on_trajectory(self, msg):
        self._record(messages.joint_trajectory_to_numpy(msg, NAMES)[1][-1])

    def received(self, since: float = 0.0) -> list[tuple[float, np.ndarray]]:
        with self.lock:
            return [c for c in self.commands if c[0] >= since]
