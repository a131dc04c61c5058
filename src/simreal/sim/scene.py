"""Composes a task's MJCF: physics options, lights, table, cameras, the robot and the task's objects.

The world frame is the robot base frame (x forward over the table, y left, z up, table top at z=0).
Rendering is set up for CPU rasterisation: no shadows, no multisampling (both cost an order of magnitude
on Mesa's software renderer), one directional light.
"""

from __future__ import annotations

import numpy as np

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
    name: str, objects_xml: str, objects_assets_xml: str = "", max_render_size: int = 640
) -> str:
    """The full MJCF for a task: our Panda-like arm on a table plus `objects_xml` (bodies placed in
    the worldbody) and `objects_assets_xml` (materials/textures those bodies use).

    `max_render_size` (pixels) sizes the offscreen framebuffer, the largest image any camera renders.
    """
    table_hx, table_hy = TABLE_SIZE
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
    {panda_mjcf.defaults_xml()}
  </default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.55 0.5 0.45" rgb2="0.5 0.46 0.41"
             width="64" height="64"/>
    <material name="table" texture="grid" texrepeat="6 6" rgba="1 1 1 1"/>
    <material name="floor" rgba="0.25 0.27 0.3 1"/>
    {panda_mjcf.assets_xml()}
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
    {panda_mjcf.robot_body_xml()}
    {objects_xml}
  </worldbody>
  <actuator>{panda_mjcf.actuators_xml()}</actuator>
  <equality>{panda_mjcf.equality_xml()}</equality>
</mujoco>
"""
