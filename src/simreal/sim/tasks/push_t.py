"""push_t: push a T-shaped block across the table into a fixed target pose with the closed gripper.

PushT (Chi et al.; LeRobot's gym-pusht) in 3D: the T is two boxes (a 12 x 3 cm bar and a 3 x 9 cm stem,
3 cm tall) on one free body, pushed by the arm's closed fingertips. The target pose is fixed (as in
PushT): centre (0.50, 0.0) m, yaw +90 deg (the stem points away from the robot, the T reads upright
in the front camera), drawn as a flat green ghost that neither collides nor shows in point clouds. A
fixed target keeps the task learnable from observations that do not name the goal (state, images,
point clouds); randomising it would need a goal input the contract does not have.

Randomised per episode: the block's centre (x 0.40..0.60 m, y -0.16..0.16 m) and yaw (any), rejected
while it already lies within 6 cm and 45 deg of the target. Success: the block's centre within
`success_pos_tol` (2 cm) of the target and its yaw within `success_yaw_tol` (10 deg), held: the block is
at rest there (speed < 1 cm/s and < 0.1 rad/s), so a block sliding through the target does not count.
LeRobot's PushT asks for 95% area coverage instead, which is stricter: with this 3 cm wide T, a 2 cm
shift alone leaves 52% coverage in the worst direction, 10 deg alone 80%, both together 47%.
Progress: 1 - (normalised position error + normalised yaw error) / 2 beyond the tolerances, 1 at success.
Environment state (the `env_state` observation): the block's centre xy and yaw as (cos ψ, sin ψ) (the T
has no rotational symmetry), and the target's, which names the goal should `target_pose` be changed.

The task is multimodal: a rotation can be made by pushing either end of the bar, a translation by
pushing several faces. The expert (`PushTExpert`) picks, every stroke, the contact point and push
direction whose quasi-static effect best matches the pose error (see `plan_push`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simreal.sim.base import SimTaskEnv, TaskConfig
from simreal.sim.controllers import yaw_down_quat
from simreal.sim.expert import Waypoint, WaypointExpert
from simreal.sim.registry import register_task
from simreal.sim.tasks.pick_place import yaw_of

# The closed jaw seen from above, half extents (m) along the TCP x axis and y axis (the finger pads).
PUSHER_HALF = np.array([0.009, 0.014])
PAD_BELOW_TCP = 0.018  # m from the TCP down to the bottom of the finger pads
REST_SPEED = 0.01  # m/s, block speed below which it counts as at rest
REST_SPIN = 0.1  # rad/s


@dataclass
class PushTConfig(TaskConfig):
    max_episode_steps: int = 600  # 30 s at 20 Hz; the expert needs about 10 s on average
    bar_size: tuple[float, float] = (0.12, 0.03)  # m, length x width of the T's top bar
    stem_size: tuple[float, float] = (0.09, 0.03)  # m, length x width of the T's stem
    height: float = 0.03  # m
    mass: float = 0.2  # kg
    friction: float = 0.5  # sliding friction of the block on the table and against the fingers
    target_pose: tuple[float, float, float] = (0.50, 0.0, math.pi / 2)  # x (m), y (m), yaw (rad)
    region_low: tuple[float, float] = (0.40, -0.16)  # m, xy corner of where the block's centre starts
    region_high: tuple[float, float] = (0.60, 0.16)
    start_min_pos_error: float = 0.06  # m; a start this close ...
    start_min_yaw_error: float = math.pi / 4  # rad; ... and this well turned is drawn again
    success_pos_tol: float = 0.02  # m
    success_yaw_tol: float = math.radians(10.0)  # rad


def wrap_angle(angle: float) -> float:
    """`angle` (rad) wrapped into [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def rotation_2d(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s], [s, c]])


class TShape:
    """The T's footprint in its body frame: origin at the centre of area (= centre of mass, uniform
    density), bar along +x on top (+y side), stem below it along -y. All lengths in metres."""

    def __init__(self, bar_size: tuple[float, float], stem_size: tuple[float, float]):
        bar_len, bar_w = bar_size
        stem_len, stem_w = stem_size
        bar_area, stem_area = bar_len * bar_w, stem_len * stem_w
        # In a frame with the bar's underside at y = 0, then shifted so the centre of area is at 0.
        y_com = (bar_area * bar_w / 2 - stem_area * stem_len / 2) / (bar_area + stem_area)
        self.bar_bottom = -y_com
        self.bar_center = np.array([0.0, bar_w / 2 - y_com])
        self.stem_center = np.array([0.0, -stem_len / 2 - y_com])
        self.bar_half = np.array([bar_len / 2, bar_w / 2])
        self.stem_half = np.array([stem_w / 2, stem_len / 2])
        # Outline, counter-clockwise, starting at the bar's top-left corner.
        a, b, y0 = bar_len / 2, stem_w / 2, self.bar_bottom
        self.outline = np.array(
            [(-a, y0 + bar_w), (-a, y0), (-b, y0), (-b, y0 - stem_len), (b, y0 - stem_len), (b, y0), (a, y0),
             (a, y0 + bar_w)]
        )  # fmt: skip
        self.concave = (2, 5)  # outline indices of the two inner corners where stem meets bar

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Distance (m) from body-frame points (N, 2) to the T (0 inside)."""
        dists = []
        for center, half in ((self.bar_center, self.bar_half), (self.stem_center, self.stem_half)):
            q = np.abs(points - center) - half
            dists.append(np.linalg.norm(np.maximum(q, 0.0), axis=-1))
        return np.minimum(*dists)

    def contact_candidates(self, spacing: float = 0.004, end_margin: float = 0.006):
        """Points on the outline (N, 2) and their outward normals (N, 2), body frame, where a pusher can
        press: `end_margin` from convex corners, and from the inner corners far enough that the jaw
        (its widest half extent plus `end_margin`) clears the other face."""
        inner_margin = float(np.max(PUSHER_HALF)) + end_margin
        points, normals = [], []
        n = len(self.outline)
        for i in range(n):
            p0, p1 = self.outline[i], self.outline[(i + 1) % n]
            length = float(np.linalg.norm(p1 - p0))
            tangent = (p1 - p0) / length
            m0 = inner_margin if i in self.concave else end_margin
            m1 = inner_margin if (i + 1) % n in self.concave else end_margin
            for s in np.arange(m0, length - m1 + 1e-9, spacing):
                points.append(p0 + tangent * s)
                normals.append((tangent[1], -tangent[0]))
        return np.array(points), np.array(normals)


@dataclass
class Push:
    """One planned stroke: the pusher's surface touches `contact` (m, world xy) and moves along the unit
    vector `direction` (world xy) for `length` metres; `alignment` in [-1, 1] is how well its expected
    effect matches the pose error."""

    contact: np.ndarray
    direction: np.ndarray
    length: float
    alignment: float


def plan_push(
    candidates, pose: np.ndarray, goal: np.ndarray, radius: float, rng=None, slack: float = 0.0
) -> Push:
    """The best single push from block pose `pose` towards `goal` (both (x m, y m, yaw rad), world).

    `candidates`: (points, outward normals) in the block frame (`TShape.contact_candidates()`). With
    `rng` and `slack` > 0 the push is drawn uniformly among those whose alignment is within `slack` of
    the best, so nearly equivalent pushes (e.g. either end of the bar) are all demonstrated.

    Quasi-static pushing with an ellipsoidal limit surface: a push with unit force direction d at a
    point r from the centre of mass moves the block roughly along the generalised force
    (d, (r x d) / radius), `radius` (m) being the block's characteristic size. The candidate whose
    generalised force points most nearly along the wanted motion (dx, dy, radius * dyaw) wins.
    """
    points, normals = candidates
    rot = rotation_2d(pose[2])
    r = points @ rot.T
    d = -(normals @ rot.T)
    torque = (r[:, 0] * d[:, 1] - r[:, 1] * d[:, 0]) / radius
    effect = np.column_stack([d, torque])
    effect /= np.linalg.norm(effect, axis=1, keepdims=True)
    wanted = np.array([goal[0] - pose[0], goal[1] - pose[1], radius * wrap_angle(goal[2] - pose[2])])
    size = float(np.linalg.norm(wanted))
    scores = effect @ (wanted / max(size, 1e-9))
    best = int(np.argmax(scores))
    if rng is not None and slack > 0.0:
        best = int(rng.choice(np.flatnonzero(scores >= scores[best] - slack)))
    return Push(pose[:2] + r[best], d[best], float(np.clip(size, 0.008, 0.04)), float(scores[best]))


@register_task("push_t", "simreal/PushT-v0")
class PushTEnv(SimTaskEnv):
    description = "push a T-shaped block (random pose) into a fixed target pose with the closed gripper"
    task_description = "Push the T-shaped block onto the green T-shaped target."
    environment_state_names = (
        *("block_x", "block_y", "block_cos_yaw", "block_sin_yaw"),
        *("target_x", "target_y", "target_cos_yaw", "target_sin_yaw"),
    )
    goal_in_scene = False  # the target pose is fixed and shows in no point cloud: a shift would move the goal
    Config = PushTConfig

    def objects_xml(self) -> str:
        cfg = self.config
        shape = TShape(cfg.bar_size, cfg.stem_size)
        h = cfg.height / 2
        bar_mass = cfg.mass * np.prod(cfg.bar_size) / (np.prod(cfg.bar_size) + np.prod(cfg.stem_size))
        # priority=1: the block's friction governs its contacts with the table and the finger pads.
        geom = f'type="box" friction="{cfg.friction} 0.005 0.0001" priority="1" rgba="0.2 0.45 0.85 1"'
        tx, ty, tyaw = cfg.target_pose
        ghost = 'type="box" contype="0" conaffinity="0" rgba="0.2 0.75 0.3 0.6"'
        return f"""
    <body name="tblock" pos="0.5 0 {h}">
      <freejoint name="tblock"/>
      <geom name="t_bar" {geom} pos="{shape.bar_center[0]} {shape.bar_center[1]} 0"
            size="{shape.bar_half[0]} {shape.bar_half[1]} {h}" mass="{bar_mass}"/>
      <geom name="t_stem" {geom} pos="{shape.stem_center[0]} {shape.stem_center[1]} 0"
            size="{shape.stem_half[0]} {shape.stem_half[1]} {h}" mass="{cfg.mass - bar_mass}"/>
    </body>
    <body name="t_target" pos="{tx} {ty} 0.0005" euler="0 0 {tyaw}">
      <geom name="t_target_bar" {ghost} pos="{shape.bar_center[0]} {shape.bar_center[1]} 0"
            size="{shape.bar_half[0]} {shape.bar_half[1]} 0.0005"/>
      <geom name="t_target_stem" {ghost} pos="{shape.stem_center[0]} {shape.stem_center[1]} 0"
            size="{shape.stem_half[0]} {shape.stem_half[1]} 0.0005"/>
    </body>"""

    def on_model_loaded(self) -> None:
        joint = self.model.joint("tblock")
        self._qpos = joint.qposadr[0]
        self._qvel = joint.dofadr[0]
        self._body = self.model.body("tblock").id
        self.shape = TShape(self.config.bar_size, self.config.stem_size)
        self.target = np.asarray(self.config.target_pose, dtype=float)

    def randomize(self, rng: np.random.Generator) -> None:
        cfg = self.config
        while True:  # rejection sampling: most draws are far enough from the target
            xy = rng.uniform(cfg.region_low, cfg.region_high)
            yaw = rng.uniform(-math.pi, math.pi)
            pos_err, yaw_err = self.pose_error(np.array([*xy, yaw]))
            if pos_err >= cfg.start_min_pos_error or yaw_err >= cfg.start_min_yaw_error:
                break
        self.set_block_pose(np.array([*xy, yaw]))

    # ---- state queries ----------------------------------------------------------------------------
    def set_block_pose(self, pose: np.ndarray) -> None:
        """Puts the block at rest on the table at (x m, y m, yaw rad) (call mj_forward afterwards)."""
        q, v = self._qpos, self._qvel
        self.data.qpos[q : q + 3] = (pose[0], pose[1], self.config.height / 2)
        self.data.qpos[q + 3 : q + 7] = (math.cos(pose[2] / 2), 0.0, 0.0, math.sin(pose[2] / 2))
        self.data.qvel[v : v + 6] = 0.0

    def block_pose(self) -> np.ndarray:
        """(x m, y m, yaw rad) of the block's centre of mass in the base frame."""
        q = self._qpos
        return np.array([self.data.qpos[q], self.data.qpos[q + 1], yaw_of(self.data.qpos[q + 3 : q + 7])])

    def environment_state(self) -> np.ndarray:
        """Block and target (x m, y m, cos yaw, sin yaw), base frame."""
        block, target = self.block_pose(), self.target
        return np.array([*block[:2], math.cos(block[2]), math.sin(block[2]),
                         *target[:2], math.cos(target[2]), math.sin(target[2])])  # fmt: skip

    def pose_error(self, pose: np.ndarray) -> tuple[float, float]:
        """(position error m, absolute yaw error rad) of block pose (x, y, yaw) to the target."""
        return float(np.linalg.norm(pose[:2] - self.target[:2])), abs(wrap_angle(pose[2] - self.target[2]))

    def at_rest(self) -> bool:
        v = self._qvel
        lin, ang = self.data.qvel[v : v + 3], self.data.qvel[v + 3 : v + 6]
        return bool(np.linalg.norm(lin) < REST_SPEED and np.linalg.norm(ang) < REST_SPIN)

    def is_success(self) -> bool:
        pos_err, yaw_err = self.pose_error(self.block_pose())
        cfg = self.config
        return pos_err < cfg.success_pos_tol and yaw_err < cfg.success_yaw_tol and self.at_rest()

    def progress(self) -> float:
        """1 - mean of the position error (over 0.2 m) and yaw error (over pi) beyond the tolerances."""
        if self.is_success():
            return 1.0
        cfg = self.config
        pos_err, yaw_err = self.pose_error(self.block_pose())
        pos_term = min(max(pos_err - cfg.success_pos_tol, 0.0) / 0.2, 1.0)
        yaw_term = min(max(yaw_err - cfg.success_yaw_tol, 0.0) / (math.pi - cfg.success_yaw_tol), 1.0)
        return 1.0 - 0.5 * (pos_term + yaw_term)

    def outcome(self) -> dict[str, float]:
        """The block's position and yaw error to the target (success: both within tolerance, at rest)."""
        pos_err, yaw_err = self.pose_error(self.block_pose())
        return {"block_position_error_m": pos_err, "block_yaw_error_rad": yaw_err}

    def make_expert(self, rng: np.random.Generator, noise: float | None = None) -> PushTExpert:
        return PushTExpert(self, rng, self.config.expert_noise if noise is None else noise)


class PushTExpert(WaypointExpert):
    """Stroke-by-stroke pushing with re-planning (see `plan_push`).

    Each plan: pick a contact point and direction among the best (see `choice_slack`); go to a point
    1.2 cm behind it (straight along the table when the way is clear of the block, else over the
    block); push along the direction by 0.8-4 cm (the size of the remaining error); plan again. Inside
    half the success tolerances it lifts off and waits. Noise turns the push direction (std 0.1 rad),
    shifts the contact along the face (std 3 mm) and scales the stroke (x0.7-1.3); the base class adds
    speed and joint-target noise.
    """

    push_speed = 0.08  # m/s while in contact
    travel_speed = 0.3  # m/s above the block
    approach_gap = 0.012  # m between the pusher and the face before a stroke
    lift_clearance = 0.02  # m between the finger pads and the block's top when passing over it
    choice_slack = 0.05  # pushes this close to the best alignment (per unit noise) are equally likely

    def reset(self) -> None:
        super().reset()
        env: PushTEnv = self.env
        self._candidates = env.shape.contact_candidates()
        self._quat = yaw_down_quat(0.0)
        # Characteristic size for the push planner: the block's radius of gyration about its centre.
        shape = env.shape
        bar, stem = shape.bar_half * 2, shape.stem_half * 2
        inertia = sum(
            w * h * ((w * w + h * h) / 12 + float(c @ c))
            for (w, h), c in ((bar, shape.bar_center), (stem, shape.stem_center))
        )
        self._radius = math.sqrt(inertia / (np.prod(bar) + np.prod(stem)))

    def _pusher_reach(self, direction: np.ndarray) -> float:
        """Distance (m) from the jaw's centre to its leading face when moving along `direction`."""
        return float(PUSHER_HALF @ np.abs(direction))  # TCP axes = base axes at yaw 0

    def _clear_path(self, start: np.ndarray, end: np.ndarray, pose: np.ndarray) -> bool:
        """True when the jaw can slide from `start` to `end` (world xy) without touching the block."""
        rot = rotation_2d(pose[2])
        path = start + np.linspace(0.0, 1.0, 25)[:, None] * (end - start)
        local = (path - pose[:2]) @ rot
        return bool(np.all(self.env.shape.distance(local) > float(np.linalg.norm(PUSHER_HALF)) + 0.003))

    def plan(self) -> list[Waypoint]:
        env: PushTEnv = self.env
        n, rng = self.noise, self.rng
        cfg = env.config
        push_z = PAD_BELOW_TCP + 0.005
        travel_z = cfg.height + PAD_BELOW_TCP + self.lift_clearance
        pose = env.block_pose()
        tcp = self._cmd_pos
        pos_err, yaw_err = env.pose_error(pose)
        if pos_err < cfg.success_pos_tol / 2 and yaw_err < cfg.success_yaw_tol / 2:
            return [Waypoint(np.array([tcp[0], tcp[1], travel_z + 0.03]), self._quat, 1.0, 0.15, hold=10)]
        push = plan_push(self._candidates, pose, env.target, self._radius, rng, self.choice_slack * n)
        direction = rotation_2d(rng.normal(0.0, 0.1 * n)) @ push.direction
        contact = push.contact + np.array([-direction[1], direction[0]]) * rng.normal(0.0, 0.003 * n)
        length = push.length * (1.0 + 0.3 * n * rng.uniform(-1, 1))
        touch = contact - direction * self._pusher_reach(direction)
        before = touch - direction * self.approach_gap
        end = touch + direction * length
        at = lambda xy, z: np.array([xy[0], xy[1], z])
        waypoints = []
        if tcp[2] > push_z + 0.01 or not self._clear_path(tcp[:2], before, pose):
            waypoints += [
                Waypoint(at(tcp, travel_z), self._quat, 1.0, self.travel_speed),
                Waypoint(at(before, travel_z), self._quat, 1.0, self.travel_speed),
            ]
        waypoints += [
            Waypoint(at(before, push_z), self._quat, 1.0, self.travel_speed * 0.7),
            Waypoint(at(end, push_z), self._quat, 1.0, self.push_speed),
        ]
        return waypoints
