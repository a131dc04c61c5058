"""`policy_node`: runs a trained policy against a ros2_control arm (real, or simreal's sim_robot_node).

Data path: topic callbacks decode messages into the ObservationAligner; the InferenceWorker thread
samples the aligned observation, runs the policy and merges the stamped action chunk into the
ActionSchedule; the ControlLoop thread (``control_rate`` Hz, absolute deadlines, not an executor timer)
samples the schedule, passes the command through the SafetyLayer and publishes it, never waiting on
inference or on the executor's callbacks.

Interfaces: publishes ``/<controller>/commands`` (std_msgs/Float64MultiArray) or
``/<controller>/joint_trajectory`` (trajectory_msgs/JointTrajectory, one point) and ``/diagnostics``;
subscribes to the topics of the observation spec, ``joint_states_topic`` (for the safety layer) and
``estop_topic`` (std_msgs/Bool, True latches); services ``~/start``, ``~/stop``, ``~/reset_estop``
(std_srvs/Trigger). Commands are the arm joints' positions (rad) then, when ``gripper_joint`` is set, the
gripper command in [0, 1] (0 open).

The checkpoint's action space is the "controller" of the dataset it was trained on (its dataset meta; a
checkpoint without one is refused, never guessed). A joint_pos action is the command itself. An ee_pose
(x, y, z m, qw, qx, qy, qz, gripper) or ee_delta (dx, dy, dz m, drx, dry, drz rad, gripper; base frame)
chunk is turned into joint targets by damped least-squares IK on the arm's MJCF (``robot_mjcf``;
simreal's Panda by default) on the inference thread, clamped to ``ee_workspace`` as in simulation: see
cartesian_chunks. IK time per chunk is published beside the inference latency.

Time: every stamp, age and deadline is on the node's ROS clock, so with ``use_sim_time`` (sim_robot_node
with ``publish_clock``) observation alignment, ``max_age``, the watchdog and the action schedule all run
on /clock. The control thread still wakes ``control_rate`` times per wall second, but a tick acts on the
simulated time since the last one: none (a paused or not yet started simulation) sends nothing, and the
velocity bound is per simulated second whatever the real-time factor.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from simreal.errors import UserError

from . import messages
from .action_schedule import ActionSchedule
from .cartesian_chunks import (
    DEFAULT_EE_WORKSPACE,
    DEFAULT_HOME_Q,
    CartesianChunkConverter,
    JointHistory,
    arm_ik,
    check_ee_action,
    workspace_corners,
)
from .control_loop import ControlLoop
from .inference_process import ProcessChunkRunner
from .inference_worker import InferenceWorker
from .node_runtime import ParameterTable, declare_parameters, run_node
from .observation_spec import ObservationSpec
from .policy_runner import ChunkRunner, load_runner
from .safety import SafetyConfig, SafetyLayer
from .time_alignment import ObservationAligner

OUTPUTS = ("forward_position", "joint_trajectory")
STATS_WINDOW = 10.0  # s of control ticks behind the rate and jitter diagnostics

PARAMETERS: ParameterTable = {
    "checkpoint": ("", "policy checkpoint directory (simreal.policies.load_policy)"),
    "device": ("cpu", "torch device for inference: cpu, cuda or auto"),
    "torch_threads": (1, "CPU threads for inference (keep a core free for the control loop)"),
    "inference_steps": (0, "network calls a planning call (denoising steps; streaming: calls); 0 = saved"),
    "inference_process": (True, "run the policy in a child process (its GIL never delays a control tick)"),
    "observation_spec": (Parameter.Type.STRING, "YAML file mapping each observation feature to topics"),
    "controller": ("forward_position_controller", "ros2_control controller name: topics /<controller>/..."),
    "output": ("forward_position", "forward_position (Float64MultiArray) or joint_trajectory"),
    "joint_names": (Parameter.Type.STRING_ARRAY, "commanded arm joints, in the policy's action order"),
    "gripper_joint": ("", "gripper joint in joint_states (last action: 0 open .. 1 closed); '' = none"),
    "gripper_open_position": (0.04, "gripper joint position when open (joint units)"),
    "gripper_closed_position": (0.0, "gripper joint position when closed (joint units)"),
    "joint_states_topic": ("/joint_states", "measured joint positions for the safety layer"),
    "estop_topic": ("/estop", "std_msgs/Bool; True latches the e-stop until ~/reset_estop"),
    "lower_limits": (Parameter.Type.DOUBLE_ARRAY, "lower command limits (rad; gripper 0)"),
    "upper_limits": (Parameter.Type.DOUBLE_ARRAY, "upper command limits (rad; gripper 1)"),
    "max_velocity": (Parameter.Type.DOUBLE_ARRAY, "largest commanded speed per joint (rad/s; gripper 1/s)"),
    "max_step": ([0.0], "largest change per control tick (rad); [0.0] = only max_velocity bounds it"),
    "max_age": (0.2, "s; older joint states or observations trip the watchdog"),
    "on_stale": ("hold", "watchdog reaction: hold (last safe target) or zero_velocity (stop where measured)"),
    "control_rate": (100.0, "Hz of the command stream"),
    "control_priority": (50, "SCHED_FIFO priority of the control thread (0 = normal; needs CAP_SYS_NICE)"),
    "replan_horizon": (0.0, "s; infer again when this much of the chunk remains (0: all its actions run)"),
    "action_latency": (0.0, "s; actions due sooner than now + this when a chunk arrives are dropped"),
    "robot_mjcf": ("", "ee_pose/ee_delta checkpoints: arm MJCF for the IK ('' = simreal's Panda)"),
    "ee_workspace": (DEFAULT_EE_WORKSPACE, "ee_* checkpoints: TCP box [x,y,z lo, x,y,z hi] (m, base frame)"),
    "ik_home_q": (DEFAULT_HOME_Q, "ee_* checkpoints: posture (rad) the IK's nullspace term pulls towards"),
    "autostart": (True, "start commanding at once (else wait for ~/start)"),
    "diagnostics_rate": (1.0, "Hz of /diagnostics"),
}


class PolicyNode(Node):
    """The policy node; ``runner`` overrides loading the ``checkpoint`` parameter (tests, one process)."""

    def __init__(self, runner: ChunkRunner | None = None, **node_kwargs):
        super().__init__("policy_node", **node_kwargs)
        p = self.params = declare_parameters(self, PARAMETERS)
        if p["output"] not in OUTPUTS:
            raise UserError(f"policy_node: output must be one of {OUTPUTS}, got {p['output']!r}")
        if p["control_rate"] <= 0:
            raise UserError("policy_node: control_rate must be positive")
        spec = ObservationSpec.from_yaml(p["observation_spec"])
        owned = runner is None
        if runner is None:
            if not p["checkpoint"]:
                raise UserError("policy_node: parameter 'checkpoint' is required")
            steps = p["inference_steps"] or None  # 0: the checkpoint's own setting
            if p["inference_process"]:
                runner = ProcessChunkRunner(p["checkpoint"], p["device"], p["torch_threads"], steps)
            else:
                import torch

                torch.set_num_threads(max(1, p["torch_threads"]))
                runner = load_runner(p["checkpoint"], p["device"], steps)
        try:
            self._configure_actions(runner, spec)
        except UserError:
            if owned and hasattr(runner, "close"):
                runner.close()  # no policy process outlives a refused start
            raise
        # Every thread of this process that takes the GIL runs above normal processes when the policy
        # is in its own process: one preempted while holding the GIL would delay the control tick.
        in_process = not isinstance(runner, ProcessChunkRunner)
        self.spin_priority = 0 if in_process else max(0, p["control_priority"] - 10)
        self.worker = InferenceWorker(
            runner,
            self.aligner,
            self.schedule,
            self._now,
            p["replan_horizon"],
            priority=self.spin_priority,
            converter=self.converter,
        )
        self._safety_lock = threading.Lock()  # the control thread filters, executor callbacks observe
        self.obs_to_command = deque(maxlen=1000)  # s from a chunk's observation to its first command
        self._generation_seen = 0
        self._last_tick = None  # clock time (s) of the last control tick on sim time

        for feature, index, source in spec.sources():
            self.create_subscription(
                source.message_class(),
                source.topic,
                lambda msg, f=feature, i=index, s=source: self._on_observation(f, i, s, msg),
                qos_profile_sensor_data,
            )
        sensor_qos = qos_profile_sensor_data
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_state, sensor_qos)
        self.create_subscription(Bool, p["estop_topic"], self._on_estop, QoSProfile(depth=10))
        self.create_service(Trigger, "~/start", lambda req, res: self._service(res, self.start))
        self.create_service(Trigger, "~/stop", lambda req, res: self._service(res, self.stop))
        self.create_service(Trigger, "~/reset_estop", lambda req, res: self._service(res, self.reset_estop))
        controller = p["controller"]
        if p["output"] == "forward_position":
            self.command_pub = self.create_publisher(Float64MultiArray, f"/{controller}/commands", 10)
        else:
            self.command_pub = self.create_publisher(JointTrajectory, f"/{controller}/joint_trajectory", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0 / p["diagnostics_rate"], self._publish_diagnostics)
        if p["autostart"]:
            self.start()
        gc.freeze()  # start-up objects (rclpy, numpy) leave the GC: a full collection would stall ticks
        self.control = ControlLoop(self._on_control, self.dt, priority=p["control_priority"])
        self.get_logger().info(
            f"{self.action_space} policy at {runner.fps:g} Hz -> {p['output']} on /{controller}"
            f" at {p['control_rate']:g} Hz" + (" (IK on the inference thread)" if self.converter else "")
        )

    def _configure_actions(self, runner: ChunkRunner, spec: ObservationSpec) -> None:
        """Check the checkpoint against the spec and the commanded joints; set up the safety layer, the
        schedule and, for an ee_* action space, the IK converter. UserError naming any mismatch."""
        p = self.params
        spec.check_features(runner.features)
        self.command_names = list(p["joint_names"]) + ([p["gripper_joint"]] if p["gripper_joint"] else [])
        action_dim = tuple(runner.features["action"]["shape"])[0]
        self.action_space = getattr(runner, "controller", "joint_pos")
        check_ee_action(self.action_space, action_dim, p["joint_names"])
        if self.action_space == "joint_pos" and action_dim != len(self.command_names):
            raise UserError(
                f"policy_node: the checkpoint's action has {action_dim} entries but joint_names"
                f" (+ gripper_joint) name {len(self.command_names)}: {self.command_names}"
            )
        max_step = np.asarray(p["max_step"], dtype=np.float64)
        self.safety = SafetyLayer(
            SafetyConfig(
                lower=p["lower_limits"],
                upper=p["upper_limits"],
                max_velocity=p["max_velocity"],
                max_step=None if np.all(max_step <= 0) else max_step,
                max_age=p["max_age"],
                on_stale=p["on_stale"],
            )
        )
        if self.safety.num_joints != len(self.command_names):
            raise UserError(
                f"policy_node: limits have {self.safety.num_joints} entries,"
                f" commands {len(self.command_names)}: {self.command_names}"
            )
        self.dt = 1.0 / p["control_rate"]
        self.runner = runner
        self.aligner = ObservationAligner(spec)
        self.schedule = ActionSchedule(1.0 / float(runner.fps), latency=p["action_latency"])
        self.joint_history = JointHistory(p["max_age"])  # the IK's warm start at a chunk's observation
        self.converter = None
        if self.action_space != "joint_pos":
            self.converter = CartesianChunkConverter(
                self.action_space,
                arm_ik(p["robot_mjcf"], p["ik_home_q"]),
                workspace_corners(p["ee_workspace"]),
                self.joint_history.at,
                1.0 / float(runner.fps),
                gripper=bool(p["gripper_joint"]),
            )

    # --- control --------------------------------------------------------------------------------

    def start(self) -> str:
        with self._safety_lock:
            self.safety.start()
        self.worker.enable(True)
        return "started"

    def stop(self) -> str:
        with self._safety_lock:
            self.safety.stop()
        self.worker.enable(False)
        self.worker.reset()
        return "stopped"

    def reset_estop(self) -> str:
        self.worker.reset()
        with self._safety_lock:
            self.safety.reset_estop()
        return "e-stop released"

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _tick_dt(self, now: float) -> float | None:
        """Seconds this control tick stands for: the period on wall time; on sim time the simulated
        seconds since the last tick, or None when the clock has not moved (nothing to do)."""
        if not self.get_clock().ros_time_is_active:
            self._last_tick = None
            return self.dt
        last, self._last_tick = self._last_tick, now
        if last is None or now <= last:  # first tick, paused, or the clock went back (sim restarted)
            return None
        return now - last

    def _on_control(self) -> None:
        now = self._now()
        dt = self._tick_dt(now)
        if dt is None:
            return
        age, stalest = self.aligner.stalest(now)
        stale = None
        if self.safety.running and age > self.aligner.spec.max_age:
            stale = f"{stalest} {age:.3f} s old"
            self.schedule.clear()  # never resume an old plan when the data comes back
        target = None if stale else self.schedule.sample(now)
        with self._safety_lock:
            command = self.safety.filter(target, now, dt, stale=stale)
        if command is None:
            return
        if self.params["output"] == "forward_position":
            self.command_pub.publish(messages.float64_array_msg(command.position))
        else:
            # Time 0 in the header: ros2_control starts the trajectory on receipt.
            msg = messages.joint_trajectory_msg(
                self.command_names, command.position, [dt], command.velocity, stamp=0.0
            )
            self.command_pub.publish(msg)
        if self.schedule.generation != self._generation_seen:
            self._generation_seen = self.schedule.generation
            self.obs_to_command.append(now - self.schedule.obs_time)

    # --- inputs -----------------------------------------------------------------------------------

    def _stamp(self, msg) -> float:
        stamp = getattr(getattr(msg, "header", None), "stamp", None)
        if stamp is None or (stamp.sec == 0 and stamp.nanosec == 0):
            return self._now()  # no header (Float64MultiArray): time of receipt
        return messages.time_to_seconds(stamp)

    def _on_observation(self, feature, index, source, msg) -> None:
        try:
            value = source.decode(msg)
        except UserError as exc:
            self.worker.counters["rejected_observation"] += 1
            self.worker.last_error = str(exc)
            return
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            self.worker.counters["rejected_observation"] += 1
            self.worker.last_error = f"{source.topic}: non-finite values"
            return
        self.aligner.push(feature, index, self._stamp(msg), value)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            arm = messages.joint_positions(msg, self.params["joint_names"])
            if self.params["gripper_joint"]:
                q = messages.joint_positions(msg, [self.params["gripper_joint"]])
                opening, closed = self.params["gripper_open_position"], self.params["gripper_closed_position"]
                arm = np.append(arm, (opening - q[0]) / (opening - closed))
        except UserError:
            arm = np.full(self.safety.num_joints, np.nan)  # rejected (and counted) by the safety layer
        stamp = self._stamp(msg)
        if self.converter is not None:
            self.joint_history.push(stamp, arm[: len(self.params["joint_names"])])
        with self._safety_lock:
            self.safety.observe(arm, stamp)

    def _on_estop(self, msg: Bool) -> None:
        if msg.data:
            with self._safety_lock:
                self.safety.estop()
            self.worker.enable(False)

    def _service(self, response, action):
        response.message = action()
        response.success = True
        return response

    # --- diagnostics ------------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, float]:
        """Numbers for /diagnostics: latency (ms; inference, and IK per chunk for ee_* checkpoints), queue
        depth, counters, achieved rate (Hz) and period jitter (ms) over the last ``STATS_WINDOW`` s of
        control ticks."""
        p50, p99 = self.worker.latency_percentiles()
        times = np.asarray(list(self.control.tick_times))  # list(): one atomic copy
        ticks = np.diff(times[times >= time.perf_counter() - STATS_WINDOW])
        values = {
            "inference_latency_p50_ms": p50 * 1e3,
            "inference_latency_p99_ms": p99 * 1e3,
            **self._ik_latency(),
            "queue_depth": self.schedule.depth(self._now()),
            "dropped_actions": self.schedule.dropped,
            "control_rate_hz": 1.0 / ticks.mean() if len(ticks) else 0.0,
            "period_jitter_p50_ms": float(np.percentile(np.abs(ticks - self.dt), 50)) * 1e3
            if len(ticks)
            else 0.0,
            "period_jitter_p99_ms": jitter_p99(ticks, self.dt) * 1e3,
            "skipped_ticks": self.control.skipped,
            "realtime": float(self.control.realtime),
            "obs_to_command_p50_ms": _percentile_ms(self.obs_to_command, 50),
            "obs_to_command_p99_ms": _percentile_ms(self.obs_to_command, 99),
            "running": float(self.safety.running),
            "estopped": float(self.safety.estopped),
        }
        values.update({k: float(v) for k, v in self.worker.counters.items()})
        values.update({f"safety_{k}": float(v) for k, v in self.safety.counters.items()})
        return values

    def _ik_latency(self) -> dict[str, float]:
        if self.converter is None:
            return {}
        p50, p99 = self.worker.latency_percentiles("convert")
        return {"ik_latency_p50_ms": p50 * 1e3, "ik_latency_p99_ms": p99 * 1e3}

    def _publish_diagnostics(self) -> None:
        values = self.diagnostics()
        level = DiagnosticStatus.OK
        if self.safety.estopped or self.safety.counters.get("watchdog_stale"):
            level = DiagnosticStatus.WARN
        status = DiagnosticStatus(
            level=level,
            name="simreal/policy_node",
            message=self.worker.last_error or "ok",
            hardware_id=self.params["controller"],
            values=[KeyValue(key=k, value=f"{v:.6g}") for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)

    def destroy_node(self):
        # Also called when __init__ failed part of the way (rclpy destroys every node of the context
        # at shutdown): close only what exists, so the error that stopped the node stays the last word.
        if hasattr(self, "control"):
            self.control.close()
        if hasattr(self, "worker"):
            self.worker.close(timeout=30.0)  # let a running inference finish before the interpreter exits
        if hasattr(getattr(self, "runner", None), "close"):
            self.runner.close()
        return super().destroy_node()


def _percentile_ms(values, q: float) -> float:
    return float(np.percentile(list(values), q)) * 1e3 if len(values) else float("nan")


def jitter_p99(periods: np.ndarray, target: float) -> float:
    """99th percentile of |period - target| (s) over measured tick periods (0 when none)."""
    return float(np.percentile(np.abs(periods - target), 99)) if len(periods) else 0.0


def main(args: list[str] | None = None) -> int:
    """Console script ``policy_node`` (also ``python -m simreal.real.policy_node --ros-args ...``)."""
    return run_node(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
