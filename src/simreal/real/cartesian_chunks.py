"""End-effector action chunks -> joint-target chunks, for arms that only take joint commands.

A checkpoint trained on an ``ee_pose`` or ``ee_delta`` dataset (see simreal.sim.base: ``ee_pose`` =
[x, y, z (m), qw, qx, qy, qz (TCP orientation), gripper], ``ee_delta`` = [dx, dy, dz (m), drx, dry, drz
(axis-angle, rad), gripper], both in the robot base frame) predicts poses, while a ros2_control arm (and
sim_robot_node) takes joint positions. ``CartesianChunkConverter`` turns each predicted chunk into joint
targets with the simulator's own controllers (simreal.sim.controllers: damped least-squares IK on
MuJoCo Jacobians, EEPoseController, EEDeltaController) on a kinematic model of the arm, so an action
means on the robot what it meant in the env that recorded the data:

- every action is first clipped to the env's action space (ee_pose positions to the workspace box,
  quaternion components to [-1, 1]; ee_delta steps to ``EE_DELTA_MAX``; gripper to [0, 1]), then the
  controller clamps positions to the workspace again, as ``SimTaskEnv.step`` does;
- ee_pose: the IK starts from the measured joint positions at the chunk's observation time, and each
  pose of the chunk from the previous pose's solution;
- ee_delta: the env anchors its commanded pose at the TCP once per episode and accumulates every delta
  onto it. Here each chunk accumulates onto the commanded pose of the previous chunk's last action
  scheduled before this chunk's first one (the pose the arm is being driven to when the new chunk takes
  over), with that action's joint solution as the warm start; the first chunk, and the first after
  ``reset`` (the node's ~/stop, ~/reset_estop), anchors at the measured TCP pose instead. Anchoring every
  chunk at the measured TCP would add the tracking error to every chunk; anchoring at the previous
  chunk's commanded pose is what the env's persistent commanded pose does. Dropped (late) actions stay
  in the chain: the policy planned the later deltas from them.

The gripper command passes through. The converter runs on the policy node's inference thread (a chunk
of 16 poses costs a few ms), never on the control thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from simreal.errors import UserError

from .action_schedule import due_times
from .time_alignment import StaleObservation

# Action layouts a checkpoint's dataset can record (simreal.sim.base.CONTROLLERS) and their widths.
EE_ACTION_DIMS = {"ee_pose": 8, "ee_delta": 7}
CONTROLLERS = ("joint_pos", *EE_ACTION_DIMS)
EE_ACTION_NAMES = {
    "ee_pose": "x, y, z, qw, qx, qy, qz, gripper",
    "ee_delta": "dx, dy, dz, drx, dry, drz, gripper",
}
# Defaults of the policy node's IK parameters: TaskConfig.ee_workspace (low xyz, high xyz; m, base
# frame) and panda_mjcf.HOME_Q (rad, the IK's nullspace posture). Written out here because importing
# simreal.sim costs a second; tests/real/test_cartesian_chunks.py keeps them equal.
DEFAULT_EE_WORKSPACE = [0.2, -0.45, 0.0, 0.85, 0.45, 0.6]
DEFAULT_HOME_Q = [0.0, -0.35, 0.0, -2.4, 0.0, 2.05, 0.785]
ARM_DOF = 7


def arm_ik(robot_mjcf: str = "", home_q=DEFAULT_HOME_Q):
    """simreal.sim.controllers.DifferentialIK on the arm's kinematic model: simreal's Panda MJCF, or the
    user robot MJCF ``robot_mjcf`` attached as the sim does it (scene.build_scene_model: joints
    joint1..joint7, a body "hand"; the "tcp" site is added when missing). ``home_q`` (7, rad) is the
    posture the IK's nullspace term pulls towards."""
    import mujoco

    from simreal.sim.controllers import DifferentialIK
    from simreal.sim.robot import Robot
    from simreal.sim.scene import build_scene_model

    home_q = np.asarray(home_q, dtype=float)
    if home_q.shape != (ARM_DOF,):
        raise UserError(f"ik_home_q needs {ARM_DOF} joint angles (rad), got {home_q.shape[0]}")
    model = build_scene_model("policy_node_ik", "", robot_mjcf=robot_mjcf or None)
    return DifferentialIK(model, Robot(model, mujoco.MjData(model)), home_q)


def workspace_corners(flat) -> tuple[np.ndarray, np.ndarray]:
    """(low xyz, high xyz) in m from the node's 6-value ``ee_workspace`` parameter; UserError if malformed."""
    flat = np.asarray(flat, dtype=float)
    if flat.shape != (6,) or np.any(flat[:3] > flat[3:]):
        raise UserError(f"ee_workspace must be [x_lo, y_lo, z_lo, x_hi, y_hi, z_hi] (m), got {flat.tolist()}")
    return flat[:3], flat[3:]


class JointHistory:
    """Recent measured arm joint positions (rad) by stamp (s): the IK's warm start at a chunk's
    observation time. Thread-safe; bounded (``history`` samples, 2.5 s at 100 Hz)."""

    def __init__(self, max_age: float, history: int = 256):
        self.max_age = float(max_age)
        self._ring: deque[tuple[float, np.ndarray]] = deque(maxlen=history)
        self._lock = threading.Lock()

    def push(self, stamp: float, q: np.ndarray) -> None:
        with self._lock:
            if self._ring and stamp < self._ring[-1][0]:
                return  # out of order
            self._ring.append((stamp, np.asarray(q, dtype=float).copy()))

    def at(self, t: float) -> np.ndarray:
        """The latest positions at or before ``t`` (the oldest held when all are newer). Raises
        StaleObservation when there are none, they are older than ``max_age`` or not finite."""
        with self._lock:
            if not self._ring:
                raise StaleObservation("joint_states: nothing received yet (needed for the IK)")
            hit = next((s for s in reversed(self._ring) if s[0] <= t), self._ring[0])
        stamp, q = hit
        if t - stamp > self.max_age:
            raise StaleObservation(f"joint_states: {t - stamp:.3f} s old at the observation (IK)")
        if not np.all(np.isfinite(q)):
            raise StaleObservation("joint_states: non-finite positions (IK)")
        return q


class CartesianChunkConverter:
    """(T, A) ee_pose / ee_delta chunk -> (T, 7 [+ 1]) joint targets (rad) [+ gripper in [0, 1]].

    ``joints_at(t)`` gives the measured arm joints (7, rad) at observation time ``t``; ``policy_dt`` (s)
    spaces a chunk's actions (ee_delta's anchor lookup). Thread-safe: ``reset`` may come from another
    thread than ``convert``.
    """

    def __init__(
        self,
        controller: str,
        ik,
        workspace: tuple[np.ndarray, np.ndarray],
        joints_at: Callable[[float], np.ndarray],
        policy_dt: float,
        gripper: bool = True,
    ):
        from simreal.sim.base import EE_CONTROLLERS

        if controller not in EE_ACTION_DIMS:
            raise UserError(f"no IK conversion for controller {controller!r}; valid: {list(EE_ACTION_DIMS)}")
        self.controller, self.ik, self.joints_at = controller, ik, joints_at
        self.policy_dt, self.gripper = float(policy_dt), gripper
        self.action_dim = EE_ACTION_DIMS[controller]
        self._ee = EE_CONTROLLERS[controller](ik, workspace)
        # The box every action is clipped to before the controller, as SimTaskEnv.step clips it.
        self.low, self.high = self._ee.action_bounds()
        self._lock = threading.Lock()
        self._plan_times = np.zeros(0)  # ee_delta: stamps (s) of the last chunk's actions ...
        self._plan: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # ... (pos, quat, q7) after each

    @property
    def command_dim(self) -> int:
        return ARM_DOF + int(self.gripper)

    def reset(self) -> None:
        """Forget the commanded pose: the next ee_delta chunk anchors at the measured TCP."""
        with self._lock:
            self._plan_times, self._plan = np.zeros(0), []

    def convert(self, chunk: np.ndarray, obs_time: float) -> np.ndarray:
        """Joint targets for a chunk predicted from the observation at ``obs_time`` (s); its action i is
        due at obs_time + (i + 1) * policy_dt (simreal.real.action_schedule). Raises ValueError on a
        malformed or non-finite chunk and StaleObservation when no usable joint state exists at
        ``obs_time``."""
        chunk = np.atleast_2d(np.asarray(chunk, dtype=np.float64))
        if chunk.ndim != 2 or chunk.shape[1] != self.action_dim:
            raise ValueError(f"{self.controller} chunk must be (T, {self.action_dim}), got {chunk.shape}")
        if not np.all(np.isfinite(chunk)):
            raise ValueError(f"{self.controller} chunk has non-finite values")
        chunk = np.clip(chunk, self.low, self.high)
        q_measured = np.asarray(self.joints_at(obs_time), dtype=float)[:ARM_DOF]
        out = np.empty((len(chunk), self.command_dim))
        with self._lock:
            ee = self._ee
            if self.controller == "ee_pose":
                ee.reset(q_measured)
            else:
                anchor = self._anchor(obs_time)
                if anchor is None:
                    ee.reset(q_measured)
                else:
                    ee.target_pos, ee.target_quat, ee.q_target = (a.copy() for a in anchor)
            plan = []
            for i, action in enumerate(chunk):
                q7, grip = ee.joint_targets(action)
                out[i, :ARM_DOF] = q7
                if self.gripper:
                    out[i, ARM_DOF] = grip
                if self.controller == "ee_delta":
                    plan.append((ee.target_pos.copy(), ee.target_quat.copy(), q7.copy()))
            if plan:
                self._plan_times = due_times(obs_time, len(plan), self.policy_dt)
                self._plan = plan
        return out

    def _anchor(self, obs_time: float):
        """(pos, quat, q7) commanded by the last action due by ``obs_time`` (None: anchor at the TCP)."""
        before = np.flatnonzero(self._plan_times <= obs_time + 1e-9)
        if len(before):
            return self._plan[before[-1]]
        return None


def check_ee_action(controller: str, action_dim: int, joint_names) -> None:
    """UserError unless a checkpoint's ``controller`` can drive ``joint_names`` with ``action_dim``-wide
    actions through policy_node (joint_pos is checked against the command names by the node itself)."""
    if controller not in CONTROLLERS:
        raise UserError(
            f"policy_node: the checkpoint's action space (controller) is {controller!r}; it can drive"
            f" {', '.join(CONTROLLERS)}"
        )
    if controller == "joint_pos":
        return
    if action_dim != EE_ACTION_DIMS[controller]:
        raise UserError(
            f"policy_node: the checkpoint's {controller} action has {action_dim} entries, expected"
            f" {EE_ACTION_DIMS[controller]} ({EE_ACTION_NAMES[controller]})"
        )
    if len(joint_names) != ARM_DOF:
        raise UserError(
            f"policy_node: {controller} actions are turned into {ARM_DOF} arm joint targets by IK, but"
            f" joint_names names {len(joint_names)}: {list(joint_names)}"
        )
