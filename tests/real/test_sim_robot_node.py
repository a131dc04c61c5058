"""sim_robot_node as its own process (the console script's code path) over DDS: topics, commands, reset."""

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from ros_harness import node_process, wait_for, write_params
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from simreal.real import messages

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

NAMES = [f"joint{i}" for i in range(1, 8)] + ["gripper"]


class Probe(Node):
    """Keeps the latest message of every sim topic; publishes commands; calls /sim/reset."""

    def __init__(self, context):
        super().__init__("probe", context=context)
        self.latest, self.counts, self.lock = {}, {}, threading.Lock()
        topics = {
            "/joint_states": JointState,
            "/ee_pose": PoseStamped,
            "/camera/front/image_raw": Image,
            "/camera/front/camera_info": CameraInfo,
            "/camera/points": PointCloud2,
        }
        for topic, kind in topics.items():
            self.create_subscription(
                kind, topic, lambda m, t=topic: self._keep(t, m), qos_profile_sensor_data
            )
        self.create_subscription(DiagnosticStatus, "/sim/task_status", lambda m: self._keep("status", m), 10)
        self.command_pub = self.create_publisher(
            Float64MultiArray, "/forward_position_controller/commands", 10
        )
        self.trajectory_pub = self.create_publisher(
            JointTrajectory, "/joint_trajectory_controller/joint_trajectory", 10
        )
        self.reset_client = self.create_client(Trigger, "/sim/reset")

    def _keep(self, topic, msg):
        with self.lock:
            self.latest[topic] = msg
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def get(self, topic):
        with self.lock:
            return self.latest.get(topic)

    def status(self) -> dict:
        msg = self.get("status")
        return {kv.key: float(kv.value) for kv in msg.values} if msg else {}

    def q(self) -> np.ndarray:
        return messages.joint_positions(self.get("/joint_states"), NAMES)


@pytest.fixture(scope="module")
def sim(ros_module, tmp_path_factory):
    """One sim process for the module (tests run in file order: the reset test is last)."""
    ros, tmp_path = ros_module, tmp_path_factory.mktemp("sim")
    params = {"task": "pick_place", "observation": "state,rgb,pointcloud,cameras=front", "seed": 7}
    probe = ros.add(Probe(ros.context))
    ros.start()
    with node_process(
        ros, "simreal.real.sim_robot_node", write_params(tmp_path / "p.yaml", "sim_robot_node", params)
    ) as proc:
        ok = wait_for(lambda: len(probe.latest) == 6 or proc.poll() is not None, timeout=60)
        assert ok and proc.poll() is None, (
            proc.stdout.read() if proc.poll() is not None else probe.latest.keys()
        )
        yield probe


def test_publishes_every_interface_with_sane_content(sim):
    js = sim.get("/joint_states")
    assert list(js.name) == NAMES and np.isfinite(sim.q()).all()
    image = messages.image_to_rgb(sim.get("/camera/front/image_raw"))
    assert image.shape == (96, 96, 3) and image.std() > 5  # a rendered scene, not a blank frame
    k = messages.camera_info_to_k(sim.get("/camera/front/camera_info"))
    assert k[0, 0] > 0 and k[0, 2] == pytest.approx(48, abs=1)
    cloud = messages.pointcloud_to_numpy(sim.get("/camera/points"))
    assert cloud.shape == (512, 3) and np.isfinite(cloud).all()
    assert sim.status()["seed"] == 7 and sim.status()["episode"] == 1
    pose = messages.pose_to_numpy(sim.get("/ee_pose"))
    assert np.linalg.norm(pose[3:]) == pytest.approx(1.0, abs=1e-6)


def test_physics_runs_in_real_time(sim):
    """Simulated time keeps pace with the wall clock, or the node counts the ticks it fell behind."""
    assert wait_for(lambda: "sim_time" in sim.status(), timeout=5)
    start = sim.status()
    t0 = time.monotonic()
    time.sleep(3.0)
    end = sim.status()
    ratio = (end["sim_time"] - start["sim_time"]) / (time.monotonic() - t0)
    fell_behind = end.get("late_ticks", 0) > start.get("late_ticks", 0)
    assert ratio < 1.1 and (ratio > 0.9 or fell_behind), (ratio, end)


def test_accepts_forward_position_and_single_point_trajectory(sim):
    start = sim.q()
    target = start.copy()
    target[0] += 0.2
    target[7] = 0.0  # gripper command: open
    sim.command_pub.publish(messages.float64_array_msg(target))
    assert wait_for(lambda: abs(sim.q()[0] - target[0]) < 0.02, timeout=5), sim.q() - target
    target[1] += 0.15
    sim.trajectory_pub.publish(messages.joint_trajectory_msg(NAMES, target, [0.1], stamp=0.0))
    assert wait_for(lambda: abs(sim.q()[1] - target[1]) < 0.02, timeout=5), sim.q() - target
    rejected = sim.status().get("rejected_commands", 0)
    two_points = np.stack([target, target])
    sim.trajectory_pub.publish(messages.joint_trajectory_msg(NAMES, two_points, [0.1, 0.2], stamp=0.0))
    outside = target.copy()
    outside[0] = 10.0
    sim.command_pub.publish(messages.float64_array_msg(outside))
    assert wait_for(lambda: sim.status().get("rejected_commands", 0) >= rejected + 2, timeout=5)
    assert abs(sim.q()[0] - target[0]) < 0.02  # the rejected command did not move the arm


def test_reset_service_starts_the_next_seed(sim):
    assert sim.reset_client.wait_for_service(timeout_sec=5)
    future = sim.reset_client.call_async(Trigger.Request())
    assert wait_for(future.done, timeout=10)
    assert future.result().success and "seed 8" in future.result().message
    assert wait_for(lambda: sim.status().get("episode") == 2 and sim.status().get("seed") == 8, timeout=5)
