"""Scripted experts that plan in end-effector space and act through the env's action space.

A task's expert subclasses `WaypointExpert` and implements `plan()`, returning TCP waypoints from
privileged simulator state. The base walks a commanded TCP pose towards the current waypoint at a
bounded speed, turns it into joint targets with the env's IK, and emits actions for the env's
controller (absolute joint targets for "joint_pos", pose deltas for "ee_delta", the commanded
pose for "ee_pose"). When the plan runs
out, `plan()` is called again, so a task can re-plan (retry a failed grasp, push again, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simreal.geometry import canonical_quat
from simreal.sim.controllers import axis_angle_to_quat, quat_error, quat_multiply


@dataclass
class Waypoint:
    """A TCP target: position (m, base frame), orientation (wxyz), gripper command (0 open, 1 closed).

    speed: the most the commanded TCP moves per second (m/s) on the way here.
    hold: control steps to stay once there (let the jaw close, let an object settle).
    """

    pos: np.ndarray
    quat: np.ndarray
    gripper: float
    speed: float = 0.3
    hold: int = 0


class WaypointExpert:
    """Follows waypoints from `plan()`; `noise` scales the randomisation (0 = deterministic).

    Built-in randomisation (scaled by noise): a per-episode speed factor in [1 - 0.2 noise, 1 + 0.2
    noise] and Gaussian noise of 0.002 * noise rad on every joint target. Tasks add their own (grasp
    offsets, heights, ...) in `plan()` using `self.rng` and `self.noise`.
    """

    max_turn_rate = 1.5  # rad/s of commanded TCP rotation
    joint_noise = 0.002  # rad, per unit of noise

    def __init__(self, env, rng: np.random.Generator, noise: float):
        self.env = env.unwrapped
        self.rng = rng
        self.noise = float(noise)
        self.reset()

    def reset(self) -> None:
        """Forget the plan; the next act() plans from the current state."""
        self._plan: list[Waypoint] = []
        self._held = 0
        self._cmd_pos: np.ndarray | None = None
        self._speed_scale = 1.0 + 0.2 * self.noise * self.rng.uniform(-1, 1)

    def plan(self) -> list[Waypoint]:
        """Waypoints for the rest of the episode from the current (privileged) state."""
        raise NotImplementedError

    def act(self, obs=None) -> np.ndarray:
        """The next action (float32, the env's action space). `obs` is unused: the expert reads the
        simulator directly."""
        env = self.env
        if self._cmd_pos is None:
            self._cmd_q = env.robot.qpos()[:7]
            self._cmd_pos, self._cmd_quat = env.ik.forward(self._cmd_q)
        if not self._plan:
            self._plan = list(self.plan())
        waypoint = self._plan[0]
        prev_pos, prev_quat = self._cmd_pos.copy(), self._cmd_quat.copy()
        arrived = self._move_towards(waypoint)
        if arrived:
            self._held += 1
            if self._held > waypoint.hold:
                self._plan.pop(0)
                self._held = 0
        self._cmd_q = env.ik.solve(self._cmd_pos, self._cmd_quat, self._cmd_q)
        if env.controller == "joint_pos":
            q = self._cmd_q + self.joint_noise * self.noise * self.rng.standard_normal(7)
            lower, upper = env.robot.joint_limits
            action = np.append(np.clip(q, lower[:7], upper[:7]), waypoint.gripper)
        elif env.controller == "ee_pose":
            quat = canonical_quat(self._cmd_quat)
            action = np.concatenate([self._cmd_pos, quat, [waypoint.gripper]])
        else:
            delta_rot = quat_error(self._cmd_quat, prev_quat)
            action = np.concatenate([self._cmd_pos - prev_pos, delta_rot, [waypoint.gripper]])
        return action.astype(np.float32)

    def _move_towards(self, waypoint: Waypoint) -> bool:
        """Advances the commanded pose one control step towards `waypoint`; True once it is there."""
        dt = 1.0 / self.env.fps
        step = waypoint.speed * self._speed_scale * dt
        delta = np.asarray(waypoint.pos, float) - self._cmd_pos
        dist = float(np.linalg.norm(delta))
        self._cmd_pos = self._cmd_pos + (delta if dist <= step else delta * (step / dist))
        rot = quat_error(np.asarray(waypoint.quat, float), self._cmd_quat)
        angle = float(np.linalg.norm(rot))
        max_turn = self.max_turn_rate * dt
        turn = rot if angle <= max_turn else rot * (max_turn / angle)
        self._cmd_quat = quat_multiply(axis_angle_to_quat(turn), self._cmd_quat)
        self._cmd_quat /= np.linalg.norm(self._cmd_quat)
        return dist <= step and angle <= max_turn
