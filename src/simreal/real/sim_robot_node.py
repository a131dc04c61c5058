"""`sim_robot_node`: a simreal MuJoCo task behind the ROS 2 interfaces of a ros2_control arm.

Publishes ``/joint_states`` (joint1..7 in rad, "gripper" opening in m), ``/ee_pose`` (PoseStamped, TCP in
the base frame), per camera ``<camera_namespace>/<cam>/image_raw`` (rgb8) and ``camera_info``,
``<camera_namespace>/points`` (PointCloud2, base frame) and ``/sim/task_status``
(diagnostic_msgs/DiagnosticStatus: success, progress, episode, seed, step). Accepts
``/<controller>/commands`` (Float64MultiArray: 7 joint targets in rad + gripper in [0, 1], 0 open) and
``/<trajectory_controller>/joint_trajectory`` (single-point JointTrajectory, the same 8 names): joint
commands only, as a ros2_control arm (policy_node turns an ee_pose / ee_delta policy's poses into these).
``/sim/reset`` (std_srvs/Trigger) starts a new episode from the ``seed`` parameter, then increments it;
setting ``seed`` (e.g. ``ros2 param set``) chooses the next reset's seed.

Physics (2 ms steps) follows the wall clock: each tick advances as many steps as real time demands.
With ``publish_clock`` the node instead steps ``real_time_factor`` x real time and publishes /clock (one
message per tick, before that tick's joint states), so nodes run with use_sim_time follow the simulation;
every stamp is then simulation time (s since the node started), and ``camera_rate`` is per simulated
second: cameras render when simulation time reaches their next frame, as a simulator's sensors do, so a
faster-than-real-time sim does not starve a policy of fresh images.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from simreal.errors import UserError

from . import messages
from .node_runtime import ParameterTable, declare_parameters, run_node

PHYSICS_DT = 0.002  # s, the tasks' MuJoCo timestep
MAX_CATCH_UP = 50  # physics steps per tick at most, so a stall does not turn into a burst

PARAMETERS: ParameterTable = {
    "task": ("pick_place", "simreal task short name (simreal tasks lists them)"),
    "observation": (
        "state,rgb,pointcloud,cameras=front",
        "ObservationConfig.parse string of what to publish",
    ),
    "seed": (0, "seed of the next reset; incremented by each /sim/reset"),
    "controller": ("forward_position_controller", "accept Float64MultiArray on /<controller>/commands"),
    "trajectory_controller": (
        "joint_trajectory_controller",
        "accept JointTrajectory on /<name>/joint_trajectory",
    ),
    "camera_namespace": ("/camera", "cameras publish <ns>/<cam>/image_raw, camera_info; <ns>/points"),
    "base_frame": ("base", "frame_id of /ee_pose and the point cloud"),
    "state_rate": (100.0, "Hz of physics ticks and /joint_states, /ee_pose"),
    "camera_rate": (10.0, "Hz (of sim time with publish_clock) of images, camera_info, cloud, task status"),
    "publish_clock": (False, "step on simulation time and publish /clock"),
    "real_time_factor": (1.0, "with publish_clock: simulated seconds per wall second"),
}


class SimRobotNode(Node):
    """Owns one simreal env; must be created and spun on the same thread (the EGL renderer is)."""

    def __init__(self, **node_kwargs):
        super().__init__("sim_robot_node", **node_kwargs)
        p = self.params = declare_parameters(self, PARAMETERS)
        if p["publish_clock"] and p["real_time_factor"] <= 0:
            raise UserError(f"sim_robot_node: real_time_factor must be positive, got {p['real_time_factor']}")
        from simreal.sim import ObservationConfig, make_env

        self.obs_config = ObservationConfig.parse(p["observation"])
        self.env = make_env(p["task"], obs=self.obs_config)
        self.sim = self.env.unwrapped
        self.names = list(self.sim.robot.joint_names)
        self.counters = Counter()
        self.episode = 0
        self.seed = int(p["seed"])
        self._reset_episode()
        self.sim_time = 0.0  # s of physics since the node started (drives /clock)
        self._wall_start = time.monotonic()
        self._step_debt = 0.0  # fractional physics steps owed on sim time (a factor of 0.3 is 1.5 / tick)
        self._next_camera = 0.0  # s of sim time of the next camera frame (on sim time)

        sensor = qos_profile_sensor_data
        self.joint_pub = self.create_publisher(JointState, "/joint_states", sensor)
        self.pose_pub = self.create_publisher(PoseStamped, "/ee_pose", sensor)
        self.status_pub = self.create_publisher(DiagnosticStatus, "/sim/task_status", 10)
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if p["publish_clock"] else None
        ns = p["camera_namespace"].rstrip("/")
        self.image_pubs = {}
        if self.obs_config.rgb:
            for cam in self.obs_config.cameras:
                self.image_pubs[cam] = (
                    self.create_publisher(Image, f"{ns}/{cam}/image_raw", sensor),
                    self.create_publisher(CameraInfo, f"{ns}/{cam}/camera_info", sensor),
                )
        self.points_pub = self.create_publisher(PointCloud2, f"{ns}/points", sensor)
        self.create_subscription(Float64MultiArray, f"/{p['controller']}/commands", self._on_command, 10)
        self.create_subscription(
            JointTrajectory, f"/{p['trajectory_controller']}/joint_trajectory", self._on_trajectory, 10
        )
        self.create_service(Trigger, "/sim/reset", self._on_reset)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(1.0 / p["state_rate"], self._on_tick)
        if self.clock_pub is None:  # on sim time, _on_tick renders the cameras at their sim-time frames
            self.create_timer(1.0 / p["camera_rate"], self._on_camera)
        self.get_logger().info(
            f"{p['task']} sim robot, seed {self.episode_seed}, cameras {self.obs_config.cameras}"
        )

    # --- time ---------------------------------------------------------------------------------------

    def now(self) -> float:
        """Stamp for outgoing messages (s): simulation time with publish_clock, else wall (ROS) time."""
        if self.clock_pub is not None:
            return self.sim_time
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_tick(self) -> None:
        if self.clock_pub is not None:
            self._step_debt += self.params["real_time_factor"] / (self.params["state_rate"] * PHYSICS_DT)
            steps = int(self._step_debt + 1e-9)  # whole steps only; the fraction carries to the next tick
            self._step_debt -= steps
        else:  # catch up with the wall clock (timer jitter does not accumulate into drift)
            behind = (time.monotonic() - self._wall_start) - self.sim_time
            steps = int(np.clip(round(behind / PHYSICS_DT), 0, MAX_CATCH_UP))
            if behind > MAX_CATCH_UP * PHYSICS_DT:
                self.counters["late_ticks"] += 1
                self._wall_start += behind - MAX_CATCH_UP * PHYSICS_DT  # give up the lost time
        if steps:
            self.sim.advance(steps)
            self.sim_time += steps * PHYSICS_DT
        stamp = self.now()
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=messages.seconds_to_time(stamp)))
        self.joint_pub.publish(
            messages.joint_state_msg(self.names, self.sim.robot.qpos(), self.sim.robot.qvel(), stamp=stamp)
        )
        position, quat = self.sim.robot.tcp_pose()
        self.pose_pub.publish(
            messages.pose_msg(position, quat, stamp=stamp, frame_id=self.params["base_frame"])
        )
        if self.clock_pub is not None and self.sim_time >= self._next_camera - 1e-9:
            period = 1.0 / self.params["camera_rate"]
            # The next frame on the sim-time grid after now: a tick longer than a period skips frames.
            self._next_camera += period * (1 + int((self.sim_time - self._next_camera) / period + 1e-9))
            self._on_camera()

    def _on_camera(self) -> None:
        stamp = self.now()
        obs = self.sim.observe()  # one render pass for every image and the cloud's depth maps
        for cam, (image_pub, info_pub) in self.image_pubs.items():
            rgb = obs[f"observation.images.{cam}"]
            image_pub.publish(messages.image_msg(rgb, stamp=stamp, frame_id=f"{cam}_optical"))
            k = self.sim.camera_intrinsics(cam)
            info_pub.publish(
                messages.camera_info_msg(
                    k, rgb.shape[1], rgb.shape[0], stamp=stamp, frame_id=f"{cam}_optical"
                )
            )
        if "observation.pointcloud" in obs:
            cloud = obs["observation.pointcloud"]
            self.points_pub.publish(
                messages.pointcloud_msg(cloud, stamp=stamp, frame_id=self.params["base_frame"])
            )
        self._publish_status()

    def _publish_status(self) -> None:
        values = {
            "success": float(self.sim.is_success()),
            "progress": float(np.clip(self.sim.progress(), 0.0, 1.0)),
            "episode": self.episode,
            "seed": self.episode_seed,
            "sim_time": self.sim_time,
            **{k: v for k, v in self.counters.items()},
        }
        self.status_pub.publish(
            DiagnosticStatus(
                level=DiagnosticStatus.OK,
                name=f"simreal/{self.params['task']}",
                message="success" if values["success"] else "running",
                values=[KeyValue(key=k, value=f"{v:.6g}") for k, v in values.items()],
            )
        )

    # --- commands ---------------------------------------------------------------------------------

    def _apply(self, target: np.ndarray, source: str) -> None:
        if target.shape != (8,):
            self._reject(source, f"expected 8 values (7 joints + gripper), got {target.shape}")
            return
        try:
            self.sim.robot.set_joint_targets(target[:7], float(target[7]))
        except UserError as exc:
            self._reject(source, str(exc))
            return
        self.counters["commands"] += 1

    def _reject(self, source: str, why: str) -> None:
        self.counters["rejected_commands"] += 1
        self.get_logger().warning(f"{source} rejected: {why}", throttle_duration_sec=1.0)

    def _on_command(self, msg: Float64MultiArray) -> None:
        self._apply(messages.float64_array_to_numpy(msg), "command")

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if len(msg.points) != 1:
            self._reject("trajectory", f"only single-point trajectories are accepted, got {len(msg.points)}")
            return
        try:
            _, positions = messages.joint_trajectory_to_numpy(msg, self.names)
        except UserError as exc:
            self._reject("trajectory", str(exc))
            return
        self._apply(positions[0], "trajectory")

    def _reset_episode(self) -> None:
        self.env.reset(seed=self.seed)
        self.episode += 1
        self.episode_seed = self.seed
        self.seed += 1

    def _on_set_parameters(self, params):
        """A new ``seed`` (ros2 param set, SetParameters) is the seed of the next /sim/reset."""
        from rcl_interfaces.msg import SetParametersResult

        for param in params:
            if param.name == "seed":
                self.seed = int(param.value)
        return SetParametersResult(successful=True)

    def _on_reset(self, request, response):
        self._reset_episode()
        self.set_parameters([Parameter("seed", value=self.seed)])
        response.success = True
        response.message = f"episode {self.episode} from seed {self.episode_seed}"
        return response

    def destroy_node(self):
        self.env.close()
        return super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``sim_robot_node`` (also ``python -m simreal.real.sim_robot_node --ros-args ...``)."""
    return run_node(SimRobotNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
