"""Scripted experts that plan in end-effector space and act through the env's action space.

A task's expert subclasses `WaypointExpert` and implements `plan()`, returning TCP waypoints from
privileged simulator state. The base walks a commanded TCP pose towards the current waypoint at a
bounded speed, turns it into joint targets with the env's IK, and emits actions for the env's
controller (absolute joint targets for "joint_pos", pose deltas for "ee_delta", the commanded
pose for "ee_pose"). When the plan runs
out, or a waypoint's `expect` check fails on arrival, `plan()` is called again, so a task can re-plan
(retry a failed grasp, push again, ...).

DART-style perturbation: a task's expert may return a TCP offset from `execution_offset()`. The
action executed (`executed_action`) then aims at the commanded pose plus that offset, while `act()`
still returns the expert's own action, which is what gets recorded: the demo shows the expert's
correction from states it would never reach unperturbed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simreal.geometry import canonical_quat
from simreal.sim.controllers import axis_angle_to_quat, quat_error, quat_multiply


@dataclass
class Waypoint:
    """A TCP target: position (m, base frame), orientation (wxyz), gripper command (0 open, 1 closed).

    speed: the most the commanded TCP moves per second (m/s) on the way here.
    hold: control steps to stay once there (let the jaw close, let an object settle).
    expect: checked on arrival; False drops the rest of the plan, so the expert plans again from the
    state it finds (e.g. a jaw that closed on nothing).
    """

    pos: np.ndarray
    quat: np.ndarray
    gripper: float
    speed: float = 0.3
    hold: int = 0
    expect: Callable[[], bool] | None = None


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
        self._exec_offset = np.zeros(3)
        self.executed_action: np.ndarray | None = None  # what act()'s action executes as (see module doc)
        self._speed_scale = 1.0 + 0.2 * self.noise * self.rng.uniform(-1, 1)

    def plan(self) -> list[Waypoint]:
        """Waypoints for the rest of the episode from the current (privileged) state."""
        raise NotImplementedError

    def execution_offset(self) -> np.ndarray | None:
        """A TCP position offset (m, base frame) for the action executed this step but not for the one
        recorded (see the module docstring); None = execute the expert's own action."""
        return None

    def act(self, obs=None) -> np.ndarray:
        """The next action (float32, the env's action space) to record; `executed_action` is the one
        to step the env with. `obs` is unused: the expert reads the simulator directly."""
        env = self.env
        if self._cmd_pos is None:
            self._cmd_q = env.robot.qpos()[:7]
            self._cmd_pos, self._cmd_quat = env.ik.forward(self._cmd_q)
            self._exec_q = self._cmd_q
        if not self._plan:
            self._plan = list(self.plan())
        waypoint = self._plan[0]
        prev_pos, prev_quat = self._cmd_pos.copy(), self._cmd_quat.copy()
        arrived = self._move_towards(waypoint)
        if arrived:
            self._held += 1
            if waypoint.expect is not None and self._held == 1 and not waypoint.expect():
                self._plan, self._held = [], 0
            elif self._held > waypoint.hold:
                self._plan.pop(0)
                self._held = 0
        self._cmd_q = env.ik.solve(self._cmd_pos, self._cmd_quat, self._cmd_q)
        joint_noise = None
        if env.controller == "joint_pos":
            joint_noise = self.joint_noise * self.noise * self.rng.standard_normal(7)
        action = self._action(self._cmd_pos, self._cmd_q, prev_pos, prev_quat, waypoint.gripper, joint_noise)
        offset = self.execution_offset()
        offset = np.zeros(3) if offset is None else np.asarray(offset, float)
        if not offset.any() and not self._exec_offset.any():
            self._exec_q = self._cmd_q
            self.executed_action = action
            return action
        pos, prev_offset, self._exec_offset = self._cmd_pos + offset, self._exec_offset, offset
        if env.controller == "joint_pos":
            self._exec_q = env.ik.solve(pos, self._cmd_quat, self._exec_q)
        self.executed_action = self._action(
            pos, self._exec_q, prev_pos + prev_offset, prev_quat, waypoint.gripper, joint_noise
        )
        return action

    def _action(self, pos, q, prev_pos, prev_quat, gripper: float, joint_noise) -> np.ndarray:
        """The env's action for commanded TCP `pos` (joints `q`) after `prev_pos`/`prev_quat`."""
        env = self.env
        if env.controller == "joint_pos":
            lower, upper = env.robot.joint_limits
            action = np.append(np.clip(q + joint_noise, lower[:7], upper[:7]), gripper)
        elif env.controller == "ee_pose":
            action = np.concatenate([pos, canonical_quat(self._cmd_quat), [gripper]])
        else:
            delta_rot = quat_error(self._cmd_quat, prev_quat)
            action = np.concatenate([pos - prev_pos, delta_rot, [gripper]])
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
