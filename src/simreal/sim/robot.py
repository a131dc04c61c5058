"""Robot-level access to the simulated arm: joint state, joint limits, servo targets.

This is the surface the ROS 2 sim node drives (the same shape as a ros2_control forward position
controller: 7 absolute joint targets + a gripper command) and the one the env's controllers write to.
"""

from __future__ import annotations

import mujoco
import numpy as np

from simreal.errors import UserError
from simreal.geometry import canonical_quat
from simreal.sim import panda_mjcf

GRIPPER_OPEN_WIDTH = 2 * panda_mjcf.FINGER_MAX  # m, distance between the finger pads when fully open


class Robot:
    """The arm inside one MuJoCo model/data pair.

    Joint order: joint1..joint7 then "gripper" (the jaw opening, metres between the finger pads).
    """

    joint_names: tuple[str, ...] = (*panda_mjcf.ARM_JOINTS, "gripper")

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData):
        self.model, self.data = model, data
        check_robot_names(model)
        self._qpos_adr = np.array([model.joint(j).qposadr[0] for j in panda_mjcf.ARM_JOINTS])
        self._qvel_adr = np.array([model.joint(j).dofadr[0] for j in panda_mjcf.ARM_JOINTS])
        self._finger_qpos = np.array([model.joint(j).qposadr[0] for j in panda_mjcf.FINGER_JOINTS])
        self._finger_qvel = np.array([model.joint(j).dofadr[0] for j in panda_mjcf.FINGER_JOINTS])
        self._arm_act = np.array([model.actuator(a).id for a in panda_mjcf.ARM_ACTUATORS])
        self._grip_act = model.actuator(panda_mjcf.GRIPPER_ACTUATOR).id
        self.tcp_site = model.site(panda_mjcf.TCP_SITE).id
        lower = np.append(model.jnt_range[[model.joint(j).id for j in panda_mjcf.ARM_JOINTS], 0], 0.0)
        upper = np.append(model.jnt_range[[model.joint(j).id for j in panda_mjcf.ARM_JOINTS], 1], 0.0)
        upper[-1] = GRIPPER_OPEN_WIDTH
        self.joint_limits: tuple[np.ndarray, np.ndarray] = (lower, upper)

    @property
    def arm_qpos_adr(self) -> np.ndarray:
        """Indices of the 7 arm joints in `data.qpos`."""
        return self._qpos_adr

    @property
    def arm_dof_adr(self) -> np.ndarray:
        """Indices of the 7 arm joints in `data.qvel` (columns of a Jacobian)."""
        return self._qvel_adr

    def qpos(self) -> np.ndarray:
        """(8,) joint angles (rad) of joint1..7 and the gripper opening (m between the pads)."""
        return np.append(self.data.qpos[self._qpos_adr], self.data.qpos[self._finger_qpos].sum())

    def qvel(self) -> np.ndarray:
        """(8,) joint velocities (rad/s) and the gripper opening rate (m/s)."""
        return np.append(self.data.qvel[self._qvel_adr], self.data.qvel[self._finger_qvel].sum())

    def set_joint_targets(self, q7, gripper: float) -> None:
        """Servo targets: `q7` absolute joint angles (rad), `gripper` in [0, 1] (0 open, 1 closed).

        Raises UserError on NaN or a target outside the joint limits (nothing is changed then).
        """
        q7 = np.asarray(q7, dtype=float)
        lower, upper = self.joint_limits
        if q7.shape != (7,) or not np.all(np.isfinite(q7)) or not np.isfinite(gripper):
            raise UserError(
                f"joint targets must be 7 finite angles and a finite gripper, got {q7}, {gripper}"
            )
        tol = 1e-6
        if np.any(q7 < lower[:7] - tol) or np.any(q7 > upper[:7] + tol):
            bad = [
                self.joint_names[i] for i in np.flatnonzero((q7 < lower[:7] - tol) | (q7 > upper[:7] + tol))
            ]
            raise UserError(f"joint target outside the limits for {', '.join(bad)}: {np.round(q7, 4)}")
        if not -tol <= gripper <= 1 + tol:
            raise UserError(f"gripper command must be in [0, 1], got {gripper}")
        self.data.ctrl[self._arm_act] = q7
        self.data.ctrl[self._grip_act] = panda_mjcf.FINGER_MAX * (1.0 - float(np.clip(gripper, 0, 1)))

    def set_home(self, q7: np.ndarray, gripper_open: bool = True) -> None:
        """Puts the arm at rest at `q7` (rad) with servo targets there; the jaw open or closed."""
        self.data.qpos[self._qpos_adr] = q7
        self.data.qvel[self._qvel_adr] = 0.0
        finger = panda_mjcf.FINGER_MAX if gripper_open else 0.0
        self.data.qpos[self._finger_qpos] = finger
        self.set_joint_targets(q7, 0.0 if gripper_open else 1.0)

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Tool centre point position (m, base frame) and orientation quaternion (wxyz, sign by
        `simreal.geometry.canonical_quat`)."""
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.tcp_site])
        return self.data.site_xpos[self.tcp_site].copy(), canonical_quat(quat)


def check_robot_names(model: mujoco.MjModel) -> None:
    """UserError naming every joint/actuator/site the env needs that `model` lacks."""
    wanted = [
        *((mujoco.mjtObj.mjOBJ_JOINT, n) for n in (*panda_mjcf.ARM_JOINTS, *panda_mjcf.FINGER_JOINTS)),
        *(
            (mujoco.mjtObj.mjOBJ_ACTUATOR, n)
            for n in (*panda_mjcf.ARM_ACTUATORS, panda_mjcf.GRIPPER_ACTUATOR)
        ),
        (mujoco.mjtObj.mjOBJ_SITE, panda_mjcf.TCP_SITE),
    ]
    missing = [name for kind, name in wanted if mujoco.mj_name2id(model, kind, name) < 0]
    if missing:
        raise UserError(f"the robot model lacks {', '.join(missing)}")
