"""peg_insert: pick up a square peg standing on the table and insert it into a square hole.

The peg is a 2 x 2 x 8 cm box standing upright on the table. The hole goes through a fixed 4 cm tall
block built from four boxes (primitive geoms, no mesh); its floor is the table. Clearance is
`clearance` = 1.5 mm diametral (hole width - peg width, i.e. 0.75 mm per side), within the 2 mm spec.

Randomised per episode: the peg's position (x 0.38..0.58 m, y -0.22..0.22 m) and yaw (any), the hole
block's position (same region, at least 0.15 m from the peg) and yaw (any). Success: the peg's bottom
is `success_depth` (3 cm) below the block's top with its centre inside the hole (within the 0.75 mm
side clearance plus 1 mm of tilt). Progress: 0.2 for bringing the TCP to the peg, 0.5 for carrying the
peg over the hole, 0.3 for the inserted depth; 1 at success.

Environment state (the `env_state` observation): the peg's centre xyz, its yaw as (cos 4ψ, sin 4ψ)
(a square peg looks the same every 90 deg), its tilt (x, y of its long axis, 0 when upright), the
hole's centre xy and its yaw as (cos 4ψ, sin 4ψ) (a square hole).

Contact set-up: peg and walls use stiff contacts (solref 4 ms, solimp 0.95-0.99) so they interpenetrate
well under the clearance; the walls are slippery (friction 0.3, priority 1 so it rules the peg-wall
contact) while the peg grips the fingers (friction 1.5 through the pads, condim 4 so it does not
spin in the jaw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from simreal.sim.base import SimTaskEnv, TaskConfig
from simreal.sim.controllers import yaw_down_quat
from simreal.sim.expert import Waypoint, WaypointExpert
from simreal.sim.registry import register_task

CONTACT = 'solref="0.004 1" solimp="0.95 0.99 0.001"'


@dataclass
class PegInsertConfig(TaskConfig):
    max_episode_steps: int = 300  # 15 s at 20 Hz; the expert needs about 8 s
    peg_width: float = 0.02  # m, side of the square peg
    peg_length: float = 0.08  # m
    peg_mass: float = 0.05  # kg
    clearance: float = 0.0015  # m, hole width - peg width (diametral)
    hole_depth: float = 0.04  # m, height of the hole block
    wall_thickness: float = 0.025  # m
    region_low: tuple[float, float] = (0.38, -0.22)  # m, xy corner of where peg and hole may start
    region_high: tuple[float, float] = (0.58, 0.22)
    min_separation: float = 0.15  # m between the peg's start and the hole's centre
    success_depth: float = 0.03  # m of peg below the block's top


def square_yaw(yaw: float) -> float:
    """The equivalent yaw (rad) of a square (symmetric every 90 deg) in [-45, 45) deg."""
    return (yaw + math.pi / 4) % (math.pi / 2) - math.pi / 4


@register_task("peg_insert", "simreal/PegInsert-v0")
class PegInsertEnv(SimTaskEnv):
    description = (
        "pick up a square peg (random pose) and insert it into a hole (random pose, 1.5 mm clearance)"
    )
    task_description = "Pick up the peg and insert it into the hole."
    environment_state_names = (
        *("peg_x", "peg_y", "peg_z", "peg_cos4yaw", "peg_sin4yaw", "peg_tilt_x", "peg_tilt_y"),
        *("hole_x", "hole_y", "hole_cos4yaw", "hole_sin4yaw"),
    )
    goal_in_scene = True  # the hole block is drawn and randomised: a shifted scene moves it too
    Config = PegInsertConfig

    def objects_xml(self) -> str:
        cfg = self.config
        p, half_len = cfg.peg_width / 2, cfg.peg_length / 2
        hole, t, depth = (cfg.peg_width + cfg.clearance) / 2, cfg.wall_thickness, cfg.hole_depth / 2
        walls = []
        # Two long walls across the hole's full outer width, two short ones closing the sides.
        for name, x, y, sx, sy in (
            ("north", 0.0, hole + t / 2, hole + t, t / 2),
            ("south", 0.0, -hole - t / 2, hole + t, t / 2),
            ("east", hole + t / 2, 0.0, t / 2, hole),
            ("west", -hole - t / 2, 0.0, t / 2, hole),
        ):
            walls.append(
                f'<geom name="hole_{name}" type="box" pos="{x} {y} {depth}" size="{sx} {sy} {depth}" '
                f'friction="0.3 0.005 0.0001" priority="1" {CONTACT} rgba="0.75 0.55 0.3 1"/>'
            )
        return f"""
    <body name="peg" pos="0.45 0 {half_len}">
      <freejoint name="peg"/>
      <geom name="peg" type="box" size="{p} {p} {half_len}" mass="{cfg.peg_mass}" friction="1.0 0.01 0.0002"
            condim="4" {CONTACT} rgba="0.15 0.45 0.85 1"/>
    </body>
    <body name="hole" mocap="true" pos="0.5 0.2 0">
      {"".join(walls)}
    </body>"""

    def on_model_loaded(self) -> None:
        joint = self.model.joint("peg")
        self._peg_qpos = joint.qposadr[0]
        self._peg_body = self.model.body("peg").id
        self._hole_mocap = self.model.body("hole").mocapid[0]
        self._finger_bodies = {self.model.body(f"{side}_finger").id for side in ("left", "right")}
        self._start_distance = 1.0

    def randomize(self, rng: np.random.Generator) -> None:
        cfg = self.config
        peg_xy = rng.uniform(cfg.region_low, cfg.region_high)
        while True:  # rejection sampling terminates fast: the region is much larger than the gap
            hole_xy = rng.uniform(cfg.region_low, cfg.region_high)
            if np.linalg.norm(hole_xy - peg_xy) >= cfg.min_separation:
                break
        peg_yaw, hole_yaw = rng.uniform(-math.pi, math.pi, size=2)
        q = self._peg_qpos
        self.data.qpos[q : q + 3] = (*peg_xy, cfg.peg_length / 2)
        self.data.qpos[q + 3 : q + 7] = (math.cos(peg_yaw / 2), 0.0, 0.0, math.sin(peg_yaw / 2))
        self.data.mocap_pos[self._hole_mocap] = (*hole_xy, 0.0)
        self.data.mocap_quat[self._hole_mocap] = (math.cos(hole_yaw / 2), 0.0, 0.0, math.sin(hole_yaw / 2))
        self._start_distance = float(np.linalg.norm(hole_xy - peg_xy))

    # ---- state queries ----------------------------------------------------------------------------
    def peg_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Peg centre (m, base frame) and orientation (wxyz)."""
        q = self._peg_qpos
        return self.data.qpos[q : q + 3].copy(), self.data.qpos[q + 3 : q + 7].copy()

    def peg_yaw(self) -> float:
        """Rotation of the peg about base z (rad), from its body x axis."""
        xmat = self.data.xmat[self._peg_body].reshape(3, 3)
        return math.atan2(xmat[1, 0], xmat[0, 0])

    def hole_pose(self) -> tuple[np.ndarray, float]:
        """Centre of the hole's floor (m, base frame, on the table) and the block's yaw (rad)."""
        w, _, _, z = self.data.mocap_quat[self._hole_mocap]
        return self.data.mocap_pos[self._hole_mocap].copy(), 2 * math.atan2(z, w)

    def environment_state(self) -> np.ndarray:
        """Peg centre (m), peg yaw as (cos 4ψ, sin 4ψ), peg axis x, y (unit vector components), hole
        centre xy (m), hole yaw as (cos 4ψ, sin 4ψ); base frame."""
        peg, _ = self.peg_pose()
        axis = self.data.xmat[self._peg_body].reshape(3, 3)[:, 2]
        hole, hole_yaw = self.hole_pose()
        peg_yaw = self.peg_yaw()
        return np.array([
            *peg, math.cos(4 * peg_yaw), math.sin(4 * peg_yaw), axis[0], axis[1],
            *hole[:2], math.cos(4 * hole_yaw), math.sin(4 * hole_yaw),
        ])  # fmt: skip

    def peg_bottom(self) -> np.ndarray:
        """Centre of the peg's bottom face (m, base frame)."""
        center, _ = self.peg_pose()
        axis = self.data.xmat[self._peg_body].reshape(3, 3)[:, 2]
        return center - axis * self.config.peg_length / 2

    def insertion(self) -> tuple[float, float]:
        """(xy distance m of the peg's bottom centre to the hole's axis, depth m of the peg's bottom
        below the block's top; negative while above it)."""
        bottom = self.peg_bottom()
        hole, _ = self.hole_pose()
        return float(np.linalg.norm(bottom[:2] - hole[:2])), float(self.config.hole_depth - bottom[2])

    def fingers_touching_peg(self) -> int:
        """How many of the two fingers are in contact with the peg (0, 1 or 2)."""
        touching = set()
        for contact in self.data.contact[: self.data.ncon]:
            bodies = {self.model.geom_bodyid[contact.geom1], self.model.geom_bodyid[contact.geom2]}
            if self._peg_body in bodies:
                touching |= bodies & self._finger_bodies
        return len(touching)

    def is_success(self) -> bool:
        offset, depth = self.insertion()
        return depth >= self.config.success_depth and offset <= self.config.clearance / 2 + 0.001

    def progress(self) -> float:
        """0.2 reach (TCP to peg) + 0.5 carry (peg over the hole) + 0.3 depth; 1 at success."""
        if self.is_success():
            return 1.0
        peg, _ = self.peg_pose()
        tcp, _ = self.robot.tcp_pose()
        reach = 1.0 - min(float(np.linalg.norm(tcp - peg)) / 0.3, 1.0)
        offset, depth = self.insertion()
        carry = 1.0 - min(offset / max(self._start_distance, 1e-6), 1.0)
        inserted = min(max(depth, 0.0) / self.config.success_depth, 1.0) if offset < 0.005 else 0.0
        return 0.2 * reach + 0.5 * carry + 0.3 * inserted

    def outcome(self) -> dict[str, float]:
        """The peg's offset from the hole axis and its insertion depth (success: depth at least
        `success_depth` within the clearance), and how many fingers touch it."""
        offset, depth = self.insertion()
        return {
            "peg_offset_m": float(offset),
            "peg_depth_m": float(depth),
            "fingers_on_peg": float(self.fingers_touching_peg()),
        }

    def make_expert(self, rng: np.random.Generator, noise: float | None = None) -> PegInsertExpert:
        return PegInsertExpert(self, rng, self.config.expert_noise if noise is None else noise)


class PegInsertExpert(WaypointExpert):
    """Grasp, carry, align, insert, release, with the peg's measured pose closing every loop.

    grasp: top-down over the peg's upper part at its yaw (mod 90 deg), close, lift to the carry height.
    carry: over the hole, turning the peg to the hole's yaw (mod 90 deg).
    align: shift the commanded TCP by the peg's measured offset from the hole axis (it may sit
      off-centre or turned in the jaw) while lowering it to `hover_gap` above the block, until the
      offset is under `align_tol`.
    insert: descend `insert_step` per plan at `insert_speed`, re-centring on the measured offset each
      time; the commanded TCP leads the peg by the servo lag, the arm's stiffness is the compliance.
      A stall (the peg lags the command by more than 3 mm: caught on the hole's rim) backs up to the
      hover height and aligns again. Once deep enough: open, lift.
    A peg that leaves the jaw (dropped, knocked over) sends the expert back to grasp.

    Noise shifts the grasp point (<= 4 mm) and height, the hover and carry heights; the base class adds
    speed and joint-target noise (kept at a quarter during align/insert, finer than the clearance).
    """

    grasp_below_top = 0.02  # m from the peg's top to the TCP (pad centre) when grasping
    hover_gap = 0.005  # m between the peg's bottom and the block's top before inserting
    align_tol = 0.0004  # m
    insert_step = 0.005  # m
    insert_speed = 0.02  # m/s

    def reset(self) -> None:
        super().reset()
        self._phase = "grasp"
        self.joint_noise = WaypointExpert.joint_noise

    def plan(self) -> list[Waypoint]:
        if self._phase not in ("grasp", "done") and not self._holding():
            self._phase = "grasp"  # dropped or never grasped: start over from the peg's pose
        fine = self._phase in ("align", "insert")
        self.joint_noise = WaypointExpert.joint_noise * (0.25 if fine else 1.0)
        return getattr(self, f"_{self._phase}")()

    def _holding(self) -> bool:
        """True while both fingers touch the peg."""
        return self.env.fingers_touching_peg() == 2

    def _grasp(self) -> list[Waypoint]:
        env: PegInsertEnv = self.env
        n, rng = self.noise, self.rng
        peg, _ = env.peg_pose()
        down = yaw_down_quat(square_yaw(env.peg_yaw()))
        grasp = peg + np.append(np.clip(rng.normal(0, 0.002 * n, 2), -0.004, 0.004), 0.0)
        top = peg[2] + env.config.peg_length / 2
        grasp[2] = top - self.grasp_below_top + rng.uniform(-0.004, 0.004) * n
        hover = top + 0.06 + rng.uniform(0, 0.04) * n
        self._carry_z = env.config.hole_depth + env.config.peg_length + 0.05 + rng.uniform(0, 0.03) * n
        self._phase = "carry"
        return [
            Waypoint(np.array([grasp[0], grasp[1], hover]), down, 0.0, speed=0.45),
            Waypoint(grasp, down, 0.0, speed=0.15, hold=1),
            Waypoint(grasp, down, 1.0, hold=6),
            Waypoint(np.array([grasp[0], grasp[1], self._carry_z]), down, 1.0, speed=0.25),
        ]

    def _carry(self) -> list[Waypoint]:
        env: PegInsertEnv = self.env
        hole, _ = env.hole_pose()
        target = self._cmd_pos[:2] + hole[:2] - env.peg_bottom()[:2]
        self._phase = "align"
        return [Waypoint(np.array([*target, self._carry_z]), self._insert_quat(), 1.0, speed=0.35, hold=4)]

    def _insert_quat(self) -> np.ndarray:
        """TCP orientation that turns the held peg to the hole's yaw (the smallest turn, mod 90 deg),
        from the commanded TCP yaw, so a peg turned in the jaw is turned back too."""
        env: PegInsertEnv = self.env
        _, hole_yaw = env.hole_pose()
        cmd_rot = np.empty(9)
        mujoco.mju_quat2Mat(cmd_rot, self._cmd_quat)
        cmd_yaw = math.atan2(cmd_rot[3], cmd_rot[0])
        return yaw_down_quat(cmd_yaw + square_yaw(hole_yaw - env.peg_yaw()))

    def _centred(self, bottom_z: float) -> tuple[np.ndarray, float]:
        """Commanded TCP position that puts the peg's bottom centre on the hole axis at height
        `bottom_z` (m), and the peg's current offset (m) from the axis."""
        env: PegInsertEnv = self.env
        hole, _ = env.hole_pose()
        bottom = env.peg_bottom()
        pos = self._cmd_pos.copy()
        pos[:2] += hole[:2] - bottom[:2]
        pos[2] = bottom_z + self._cmd_pos[2] - bottom[2]
        return pos, float(np.linalg.norm(hole[:2] - bottom[:2]))

    def _align(self) -> list[Waypoint]:
        env: PegInsertEnv = self.env
        hover_z = env.config.hole_depth + self.hover_gap
        pos, offset = self._centred(hover_z)
        if offset < self.align_tol and abs(env.peg_bottom()[2] - hover_z) < 0.002:
            self._phase = "insert"
            self._lag = self._cmd_pos[2] - env.peg_bottom()[2]  # TCP-to-peg-bottom while free (m)
            return self._insert()
        return [Waypoint(pos, self._insert_quat(), 1.0, speed=0.08, hold=3)]

    def _insert(self) -> list[Waypoint]:
        env: PegInsertEnv = self.env
        cfg = env.config
        bottom_z = env.peg_bottom()[2]
        if bottom_z > self._cmd_pos[2] - self._lag + 0.003:  # caught on the rim: back up, re-align
            self._phase = "align"
            return [Waypoint(self._cmd_pos + np.array([0, 0, 0.004]), self._cmd_quat, 1.0, speed=0.05)]
        goal_z = cfg.hole_depth - cfg.success_depth - 0.005
        if bottom_z <= goal_z + 0.001:
            self._phase = "done"
            return [Waypoint(self._cmd_pos, self._cmd_quat, 0.0, hold=4)]
        pos, _ = self._centred(max(bottom_z - self.insert_step, goal_z))
        return [Waypoint(pos, self._cmd_quat, 1.0, speed=self.insert_speed)]

    def _done(self) -> list[Waypoint]:
        return [Waypoint(self._cmd_pos + np.array([0, 0, 0.1]), self._cmd_quat, 0.0, speed=0.1, hold=100)]
