"""pick_place: pick up a cube and put it down on a round target pad.

Randomised per episode: the cube's position (x 0.35..0.60 m, y -0.22..0.22 m) and yaw (any), the
pad's position (same region, at least 0.14 m away from the cube). Success: the cube rests on the pad
(its centre within `success_radius` of the pad's centre in xy, its bottom on the pad) and the fingers
have let go of it. The pad is 6 mm tall so it shows in point clouds after table removal.

Environment state (the `env_state` observation): cube centre xyz, cube yaw as (cos 4ψ, sin 4ψ) (the
cube looks the same every 90 deg), pad centre xy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simreal.sim.base import SimTaskEnv, TaskConfig
from simreal.sim.controllers import yaw_down_quat
from simreal.sim.expert import Waypoint, WaypointExpert
from simreal.sim.registry import register_task

PAD_HALF_HEIGHT = 0.003
PAD_TOP = 2 * PAD_HALF_HEIGHT


@dataclass
class PickPlaceConfig(TaskConfig):
    max_episode_steps: int = 240  # 12 s at 20 Hz; the expert needs about 5-7 s
    cube_half_size: float = 0.025  # m
    cube_mass: float = 0.1  # kg
    region_low: tuple[float, float] = (0.35, -0.22)  # m, xy corner of where cube and pad may start
    region_high: tuple[float, float] = (0.60, 0.22)
    min_separation: float = 0.14  # m between the cube's start and the pad's centre
    pad_radius: float = 0.05  # m
    success_radius: float = 0.03  # m, cube centre to pad centre in xy
    # Fraction of expert episodes whose first grasp is made to miss (PickPlaceExpert): recovery demos.
    expert_miss_rate: float = 0.0


def yaw_of(quat: np.ndarray) -> float:
    """Rotation about base z (rad) of a wxyz quaternion."""
    w, x, y, z = quat
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


@register_task("pick_place", "simreal/PickPlace-v0")
class PickPlaceEnv(SimTaskEnv):
    description = "pick up a cube (random pose) and place it on a round target pad (random position)"
    task_description = "Pick up the red cube and place it on the green pad."
    environment_state_names = ("cube_x", "cube_y", "cube_z", "cube_cos4yaw", "cube_sin4yaw", "pad_x", "pad_y")
    goal_in_scene = True  # the pad is drawn and randomised: a shifted scene moves it too
    Config = PickPlaceConfig

    def objects_xml(self) -> str:
        h = self.config.cube_half_size
        return f"""
    <body name="cube" pos="0.5 0 {h}">
      <freejoint name="cube"/>
      <geom name="cube" type="box" size="{h} {h} {h}" mass="{self.config.cube_mass}" rgba="0.85 0.15 0.1 1"
            friction="1.0 0.01 0.0002" condim="4"/>
    </body>
    <body name="target" mocap="true" pos="0.5 0.2 0">
      <geom name="target_pad" type="cylinder" pos="0 0 {PAD_HALF_HEIGHT}"
            size="{self.config.pad_radius} {PAD_HALF_HEIGHT}" rgba="0.2 0.65 0.3 1"/>
    </body>"""

    def on_model_loaded(self) -> None:
        joint = self.model.joint("cube")
        self._cube_qpos = joint.qposadr[0]
        self._cube_body = self.model.body("cube").id
        self._cube_geom = self.model.geom("cube").id
        self._target_mocap = self.model.body("target").mocapid[0]
        self._finger_bodies = {self.model.body(f"{s}_finger").id for s in ("left", "right")}
        self._start_distance = 1.0

    def randomize(self, rng: np.random.Generator) -> None:
        cfg = self.config
        low, high = np.asarray(cfg.region_low), np.asarray(cfg.region_high)
        cube_xy = rng.uniform(low, high)
        while True:  # rejection sampling terminates fast: the region is much larger than the gap
            target_xy = rng.uniform(low, high)
            if np.linalg.norm(target_xy - cube_xy) >= cfg.min_separation:
                break
        yaw = rng.uniform(-np.pi, np.pi)
        q = self._cube_qpos
        self.data.qpos[q : q + 3] = (*cube_xy, cfg.cube_half_size)
        self.data.qpos[q + 3 : q + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        self.data.mocap_pos[self._target_mocap] = (*target_xy, 0.0)
        self._start_distance = float(np.linalg.norm(target_xy - cube_xy))

    # ---- state queries ----------------------------------------------------------------------------
    def cube_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Cube centre (m, base frame) and orientation (wxyz)."""
        q = self._cube_qpos
        return self.data.qpos[q : q + 3].copy(), self.data.qpos[q + 3 : q + 7].copy()

    def target_position(self) -> np.ndarray:
        """Centre of the pad's top face (m, base frame)."""
        return self.data.mocap_pos[self._target_mocap] + np.array([0.0, 0.0, PAD_TOP])

    def environment_state(self) -> np.ndarray:
        """Cube centre (m), cube yaw as (cos 4ψ, sin 4ψ), pad centre xy (m); base frame."""
        cube, quat = self.cube_pose()
        yaw4 = 4.0 * yaw_of(quat)
        return np.array([*cube, np.cos(yaw4), np.sin(yaw4), *self.target_position()[:2]])

    def _fingers_touch_cube(self) -> bool:
        for contact in self.data.contact[: self.data.ncon]:
            bodies = {self.model.geom_bodyid[contact.geom1], self.model.geom_bodyid[contact.geom2]}
            if self._cube_body in bodies and bodies & self._finger_bodies:
                return True
        return False

    def is_success(self) -> bool:
        state = self.outcome()
        on_pad = abs(state["cube_above_pad_m"]) < 0.005
        centred = state["cube_to_pad_m"] < self.config.success_radius
        return bool(on_pad and centred and not state["cube_held"])

    def progress(self) -> float:
        """0.2 for bringing the TCP to the cube, 0.75 for moving the cube over the pad, 1 at success."""
        if self.is_success():
            return 1.0
        cube, _ = self.cube_pose()
        tcp, _ = self.robot.tcp_pose()
        reach = 1.0 - min(float(np.linalg.norm(tcp - cube)) / 0.3, 1.0)
        left = float(np.linalg.norm(cube[:2] - self.target_position()[:2]))
        transport = 1.0 - min(left / max(self._start_distance, 1e-6), 1.0)
        return 0.2 * reach + 0.75 * transport

    def outcome(self) -> dict[str, float]:
        """Cube centre to pad centre in xy (success: under `success_radius`), the cube's bottom above
        the pad's top (0 when resting on it) and whether a finger still touches the cube (0 or 1)."""
        cube, _ = self.cube_pose()
        target = self.target_position()
        return {
            "cube_to_pad_m": float(np.linalg.norm(cube[:2] - target[:2])),
            "cube_above_pad_m": float(cube[2] - self.config.cube_half_size - target[2]),
            "cube_held": float(self._fingers_touch_cube()),
        }

    def make_expert(self, rng: np.random.Generator, noise: float | None = None) -> PickPlaceExpert:
        rate = self.config.expert_miss_rate
        miss = rate > 0 and rng.random() < rate  # no draw at rate 0: older datasets stay reproducible
        return PickPlaceExpert(self, rng, self.config.expert_noise if noise is None else noise, miss)


class PickPlaceExpert(WaypointExpert):
    """Top-down grasp across two cube faces (the yaw nearest the home wrist), lift, carry, lower onto
    the pad, release, retreat. Noise shifts the grasp point (<= 6 mm), grasp depth, hover and carry
    heights, and the drop point (<= 8 mm); the base class adds speed and joint-target noise. If the
    cube is not on the pad when the plan ends, or not in the jaw after the lift, it plans again from
    where the cube is.

    `miss_first_grasp` makes a recovery demo (DART-style): while the first plan runs, the executed
    TCP drifts 4-5 cm beside the cube along the fingers' faces, so the jaw closes on nothing, while
    the recorded actions stay the expert's own. After the empty lift it re-plans, the drift fades
    (at `drift_speed`), and it grasps again: the demo shows an empty grasp and its recovery."""

    drift_speed = 0.05  # m/s at which the miss offset grows and fades

    def __init__(self, env, rng: np.random.Generator, noise: float, miss_first_grasp: bool = False):
        self.miss_first_grasp = miss_first_grasp
        super().__init__(env, rng, noise)

    def reset(self) -> None:
        super().reset()
        self._plans_made = 0
        self._miss = np.zeros(3)  # the offset the drift heads for
        self._drift = np.zeros(3)

    def execution_offset(self) -> np.ndarray | None:
        if not self.miss_first_grasp:
            return None
        step = self.drift_speed / self.env.fps
        gap = self._miss - self._drift
        dist = float(np.linalg.norm(gap))
        self._drift = self._drift + (gap if dist <= step else gap * (step / dist))
        return self._drift

    def holds_cube(self) -> bool:
        """The cube has left the table (it is in the jaw)."""
        cube, _ = self.env.cube_pose()
        return bool(cube[2] > self.env.config.cube_half_size + 0.02)

    def plan(self) -> list[Waypoint]:
        env: PickPlaceEnv = self.env
        n, rng = self.noise, self.rng
        cube, cube_quat = env.cube_pose()
        half = env.config.cube_half_size
        # The cube looks the same every 90 deg: grasp at the equivalent yaw in [-45, 45) deg.
        yaw = (yaw_of(cube_quat) + np.pi / 4) % (np.pi / 2) - np.pi / 4
        down = yaw_down_quat(yaw)
        self._plans_made += 1
        self._miss = np.zeros(3)
        if self.miss_first_grasp and self._plans_made == 1:
            # along the TCP x axis, parallel to the finger pads: the jaw closes beside the cube
            side, size = rng.choice((-1, 1)), rng.uniform(0.04, 0.05)
            self._miss = side * size * np.array([np.cos(yaw), np.sin(yaw), 0.0])
        grasp = cube + np.append(np.clip(rng.normal(0, 0.003 * n, 2), -0.006, 0.006), 0.0)
        grasp[2] = half + rng.uniform(-0.003, 0.006) * n
        hover = 0.10 + rng.uniform(0, 0.05) * n
        carry = 0.14 + rng.uniform(0, 0.05) * n
        target = env.target_position()
        drop = target + np.append(np.clip(rng.normal(0, 0.004 * n, 2), -0.008, 0.008), 0.0)
        drop[2] = target[2] + half + 0.004
        above = lambda p, z: np.array([p[0], p[1], z])
        return [
            Waypoint(above(grasp, grasp[2] + hover), down, 0.0, speed=0.45),
            Waypoint(grasp, down, 0.0, speed=0.15, hold=1),
            Waypoint(grasp, down, 1.0, hold=6),
            Waypoint(above(grasp, carry), down, 1.0, speed=0.25, expect=self.holds_cube),
            Waypoint(above(drop, carry), down, 1.0, speed=0.4),
            Waypoint(drop, down, 1.0, speed=0.15, hold=2),
            Waypoint(drop, down, 0.0, hold=5),
            Waypoint(above(drop, drop[2] + 0.12), down, 0.0, speed=0.3, hold=40),
        ]
