"""End-effector control on top of the joint servos: damped least-squares IK, an EE-delta and an
absolute EE-pose controller.

Frames: every pose is the TCP site's pose in the robot base frame; positions in metres, quaternions
wxyz, rotation deltas as axis-angle vectors (rad) in the base frame.
"""

from __future__ import annotations

import mujoco
import numpy as np

from simreal.sim.robot import Robot


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of wxyz quaternions."""
    out = np.empty(4)
    mujoco.mju_mulQuat(out, np.asarray(a, float), np.asarray(b, float))
    return out


def axis_angle_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """wxyz quaternion of the rotation vector `rotvec` (axis * angle, rad)."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * np.asarray(rotvec) / angle])


def quat_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Rotation vector (rad, base frame) that turns `current` into `target` (both wxyz)."""
    conj = np.empty(4)
    mujoco.mju_negQuat(conj, np.asarray(current, float))
    diff = quat_multiply(target, conj)
    if diff[0] < 0:  # the short way round
        diff = -diff
    vel = np.empty(3)
    mujoco.mju_quat2Vel(vel, diff, 1.0)
    return vel


def yaw_down_quat(yaw: float) -> np.ndarray:
    """wxyz orientation of a gripper pointing straight down (TCP z = -base z), rotated by `yaw` (rad)
    about the base z axis; yaw 0 puts the TCP x axis along base x and the jaw closing along base y."""
    # Rz(yaw) * Rx(pi)
    return np.array([0.0, np.cos(yaw / 2), np.sin(yaw / 2), 0.0])


class DifferentialIK:
    """Damped least-squares inverse kinematics for the TCP site on MuJoCo Jacobians (mj_jacSite).

    Each iteration solves dq = J^T (J J^T + damping^2 I)^-1 e for the 6-D pose error e, adds a pull
    towards the home posture projected into the Jacobian's exact nullspace (keeps the elbow up and the wrist
    away from its limits), and clamps to the joint limits. Runs on its own MjData (the simulation is
    not touched).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        robot: Robot,
        home_q: np.ndarray,
        damping: float = 0.03,
        nullspace_gain: float = 0.1,
    ):
        self.model = model
        self.data = mujoco.MjData(model)
        self.robot = robot
        self.home_q = np.asarray(home_q, dtype=float)
        self.damping, self.nullspace_gain = damping, nullspace_gain
        lower, upper = robot.joint_limits
        # Stay a hair inside the limits so the servo targets are always valid commands.
        self.lower, self.upper = lower[:7] + 1e-4, upper[:7] - 1e-4
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q7: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCP position (m) and wxyz orientation for joint angles `q7` (rad)."""
        self.data.qpos[self.robot.arm_qpos_adr] = q7
        mujoco.mj_kinematics(self.model, self.data)
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.robot.tcp_site])
        return self.data.site_xpos[self.robot.tcp_site].copy(), quat

    def solve(
        self,
        target_pos: np.ndarray,
        target_quat: np.ndarray,
        q_init: np.ndarray,
        max_iters: int = 60,
        pos_tol: float = 1e-4,
        rot_tol: float = 1e-3,
    ) -> np.ndarray:
        """Joint angles (7,) rad whose TCP pose is `target_pos` (m) / `target_quat` (wxyz), iterating
        from `q_init`. Returns the best iterate if the target is unreachable (it stays in limits)."""
        q = np.clip(np.asarray(q_init, dtype=float), self.lower, self.upper)
        dofs = self.robot.arm_dof_adr
        eye6 = np.eye(6)
        for _ in range(max_iters):
            pos, quat = self.forward(q)
            err = np.concatenate([target_pos - pos, quat_error(target_quat, quat)])
            if np.linalg.norm(err[:3]) < pos_tol and np.linalg.norm(err[3:]) < rot_tol:
                break
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.robot.tcp_site)
            jac = np.vstack([self._jacp[:, dofs], self._jacr[:, dofs]])
            jj = jac @ jac.T + self.damping**2 * eye6
            pinv = jac.T @ np.linalg.solve(jj, eye6)
            # The exact (undamped) projector keeps the posture pull out of the task space; with the
            # damped inverse it would leak into the pose and leave an error floor.
            nullspace = np.eye(7) - np.linalg.pinv(jac) @ jac
            dq = pinv @ err + nullspace @ (self.nullspace_gain * (self.home_q - q))
            q = np.clip(q + dq, self.lower, self.upper)
        return q


# EE-delta action bounds per control step: 5 cm and 0.25 rad (1 m/s, 5 rad/s at 20 Hz).
EE_DELTA_MAX = np.array([0.05, 0.05, 0.05, 0.25, 0.25, 0.25])


class EEDeltaController:
    """Turns (7,) actions [dx, dy, dz (m), drx, dry, drz (rad, axis-angle, base frame), gripper] into
    joint targets.

    The commanded pose accumulates the deltas (it starts at the TCP pose on reset), so small steps are
    not lost to servo tracking error; positions are clamped to `workspace` (low, high) corners (m).
    """

    def __init__(self, ik: DifferentialIK, workspace: tuple[np.ndarray, np.ndarray]):
        self.ik = ik
        self.workspace = (np.asarray(workspace[0], float), np.asarray(workspace[1], float))
        self.target_pos = np.zeros(3)
        self.target_quat = np.array([1.0, 0, 0, 0])
        self.q_target = ik.home_q.copy()

    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of the (7,) actions this controller takes: EE_DELTA_MAX per step, gripper [0, 1]."""
        return np.append(-EE_DELTA_MAX, 0.0), np.append(EE_DELTA_MAX, 1.0)

    def reset(self, q7: np.ndarray) -> None:
        """Anchors the commanded pose at the TCP pose of joint angles `q7` (rad)."""
        self.q_target = np.asarray(q7, dtype=float).copy()
        self.target_pos, self.target_quat = self.ik.forward(self.q_target)

    def joint_targets(self, action: np.ndarray) -> tuple[np.ndarray, float]:
        """(q7 rad, gripper in [0, 1]) for one EE-delta action."""
        self.target_pos = np.clip(self.target_pos + action[:3], *self.workspace)
        self.target_quat = quat_multiply(axis_angle_to_quat(action[3:6]), self.target_quat)
        self.target_quat /= np.linalg.norm(self.target_quat)
        self.q_target = self.ik.solve(self.target_pos, self.target_quat, self.q_target)
        return self.q_target, float(action[6])


class EEPoseController:
    """Turns (8,) actions [x, y, z (m), qw, qx, qy, qz (TCP orientation), gripper] into joint targets.

    The absolute pose is what a policy learns most easily (a grasp target is where the object is), and
    errors do not accumulate as they do with deltas. Positions are clamped to `workspace`; the
    quaternion is normalised (a near-zero one keeps the previous orientation). IK starts from the
    previous solution, so consecutive targets give consecutive joint targets.
    """

    def __init__(self, ik: DifferentialIK, workspace: tuple[np.ndarray, np.ndarray]):
        self.ik = ik
        self.workspace = (np.asarray(workspace[0], float), np.asarray(workspace[1], float))
        self.q_target = ik.home_q.copy()
        self.target_quat = np.array([1.0, 0, 0, 0])

    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of the (8,) actions this controller takes: the workspace corners, quaternion
        components in [-1, 1], gripper [0, 1]."""
        low, high = self.workspace
        return np.concatenate([low, -np.ones(4), [0.0]]), np.concatenate([high, np.ones(4), [1.0]])

    def reset(self, q7: np.ndarray) -> None:
        """Starts the IK from joint angles `q7` (rad)."""
        self.q_target = np.asarray(q7, dtype=float).copy()
        self.target_quat = self.ik.forward(self.q_target)[1]

    def joint_targets(self, action: np.ndarray) -> tuple[np.ndarray, float]:
        """(q7 rad, gripper in [0, 1]) for one absolute EE-pose action."""
        quat = np.asarray(action[3:7], dtype=float)
        norm = float(np.linalg.norm(quat))
        if norm > 1e-6:
            self.target_quat = quat / norm
        pos = np.clip(action[:3], *self.workspace)
        self.q_target = self.ik.solve(pos, self.target_quat, self.q_target)
        return self.q_target, float(action[7])
