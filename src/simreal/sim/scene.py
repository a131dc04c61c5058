"""Composes a task's MJCF: physics options, lights, table, cameras, the robot and the task's objects.

The world frame is the robot base frame (x forward over the table, y left, z up, table top at z=0).
Rendering is set up for CPU rasterisation: no shadows, no multisampling (both cost an order of magnitude
on Mesa's software renderer), one directional light.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import mujoco
import numpy as np

from simreal.errors import UserError
from simreal.sim import panda_mjcf

PHYSICS_TIMESTEP = 0.002  # s (500 Hz)
TABLE_SIZE = (0.7, 0.75)  # half extents (m) of the table top in x, y; it spans x in [-0.2, 1.2]
TABLE_CENTER_X = 0.5
FRONT_CAMERA_POS = (1.1, 0.0, 0.6)  # m, base frame, across the table facing the robot
FRONT_CAMERA_TARGET = (0.45, 0.0, 0.08)
FRONT_CAMERA_FOVY = 50.0  # degrees, vertical


def look_at_xyaxes(position, target, up=(0.0, 0.0, 1.0)) -> str:
    """MJCF `xyaxes` for a camera at `position` looking at `target` (MuJoCo cameras look along -z)."""
    position, target, up = (np.asarray(v, dtype=float) for v in (position, target, up))
    forward = target - position
    forward /= np.linalg.norm(forward)
    x_axis = np.cross(forward, up)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(-forward, x_axis)
    return " ".join(f"{v:.6f}" for v in (*x_axis, *y_axis))


def build_scene_xml(
    name: str,
    objects_xml: str,
    objects_assets_xml: str = "",
    max_render_size: int = 640,
    include_robot: bool = True,
) -> str:
    """The full MJCF for a task: our Panda-like arm on a table plus `objects_xml` (bodies placed in
    the worldbody) and `objects_assets_xml` (materials/textures those bodies use).

    `max_render_size` (pixels) sizes the offscreen framebuffer, the largest image any camera renders.
    `include_robot=False` leaves the arm (and its defaults, materials, actuators) out.
    """
    table_hx, table_hy = TABLE_SIZE
    robot = {
        "defaults": panda_mjcf.defaults_xml(),
        "assets": panda_mjcf.assets_xml(),
        "body": panda_mjcf.robot_body_xml(),
        "actuators": f"<actuator>{panda_mjcf.actuators_xml()}</actuator>",
        "equality": f"<equality>{panda_mjcf.equality_xml()}</equality>",
    }
    if not include_robot:
        robot = dict.fromkeys(robot, "")
    return f"""
<mujoco model="simreal_{name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{PHYSICS_TIMESTEP}" integrator="implicitfast" cone="elliptic" impratio="5"/>
  <visual>
    <quality shadowsize="0" offsamples="0" numslices="12" numstacks="6" numquads="1"/>
    <global offwidth="{max_render_size}" offheight="{max_render_size}"/>
    <map znear="0.01" zfar="10"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
  </visual>
  <default>
    <geom contype="1" conaffinity="3" solref="0.005 1"/>
    {robot["defaults"]}
  </default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.55 0.5 0.45" rgb2="0.5 0.46 0.41"
             width="64" height="64"/>
    <material name="table" texture="grid" texrepeat="6 6" rgba="1 1 1 1"/>
    <material name="floor" rgba="0.25 0.27 0.3 1"/>
    {robot["assets"]}
    {objects_assets_xml}
  </asset>
  <worldbody>
    <light name="sun" directional="true" castshadow="false" pos="0.5 0 2" dir="0.2 0.1 -1"
           diffuse="0.5 0.5 0.5"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.1" material="floor"/>
    <geom name="table" type="box" pos="{TABLE_CENTER_X} 0 -0.02" size="{table_hx} {table_hy} 0.02"
          material="table" friction="0.8 0.005 0.0001"/>
    <camera name="front" pos="{" ".join(map(str, FRONT_CAMERA_POS))}"
            xyaxes="{look_at_xyaxes(FRONT_CAMERA_POS, FRONT_CAMERA_TARGET)}" fovy="{FRONT_CAMERA_FOVY}"/>
    {robot["body"]}
    {objects_xml}
  </worldbody>
  {robot["actuators"]}
  {robot["equality"]}
</mujoco>
"""


def build_scene_model(
    name: str,
    objects_xml: str,
    objects_assets_xml: str = "",
    max_render_size: int = 640,
    robot_mjcf: str | None = None,
) -> mujoco.MjModel:
    """The compiled scene: our arm, or the robot of the MJCF file `robot_mjcf` when given.

    A user robot (e.g. from a MuJoCo Menagerie checkout) is attached with its first worldbody body at
    the origin and must use our names: joints joint1..joint7, finger_joint1/2, position actuators
    actuator1..actuator7 (rad) and "gripper" (control = opening of one finger, m), a body "hand".
    The "tcp" site and "wrist" camera are added to the hand when the file has none.
    """
    if robot_mjcf is None:
        return mujoco.MjModel.from_xml_string(
            build_scene_xml(name, objects_xml, objects_assets_xml, max_render_size)
        )
    path = Path(robot_mjcf).expanduser()
    if not path.is_file():
        raise UserError(f"robot MJCF {path} does not exist")
    spec = mujoco.MjSpec.from_string(
        build_scene_xml(name, objects_xml, objects_assets_xml, max_render_size, include_robot=False)
    )
    try:
        robot = mujoco.MjSpec.from_file(str(path))
    except ValueError as exc:
        raise UserError(f"cannot read robot MJCF {path}: {exc}") from None
    root = robot.worldbody.first_body()
    if root is None:
        raise UserError(f"robot MJCF {path} has no body under <worldbody>")
    with warnings.catch_warnings():  # names must stay unprefixed: the env looks them up
        warnings.simplefilter("ignore", UserWarning)
        spec.worldbody.add_frame().attach_body(root, "", "")
    hand = spec.body(panda_mjcf.HAND_BODY)
    if hand is None:
        raise UserError(f"robot MJCF {path} has no body named {panda_mjcf.HAND_BODY!r}")
    if spec.site(panda_mjcf.TCP_SITE) is None:
        hand.add_site(name=panda_mjcf.TCP_SITE, pos=[0, 0, panda_mjcf.TCP_OFFSET], group=4)
    if spec.camera("wrist") is None:
        x_axis, y_axis = (
            np.array(panda_mjcf.WRIST_CAMERA_XYAXES[:3]),
            np.array(panda_mjcf.WRIST_CAMERA_XYAXES[3:]),
        )
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, np.column_stack([x_axis, y_axis, np.cross(x_axis, y_axis)]).ravel())
        hand.add_camera(
            name="wrist", pos=list(panda_mjcf.WRIST_CAMERA_POS), quat=quat, fovy=panda_mjcf.WRIST_CAMERA_FOVY
        )
    try:
        with warnings.catch_warnings():  # the empty-prefix warning again (it concerns saving only)
            warnings.simplefilter("ignore", UserWarning)
            return spec.compile()
    except ValueError as exc:
        raise UserError(f"robot MJCF {path} does not compile into the scene: {exc}") from None
