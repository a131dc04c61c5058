"""Camera rendering and calibration for a MuJoCo scene.

One GL context, created on first use and reused for every frame; all cameras of an observation are
rendered in one pass (see rendering.TiledRenderer). Calibration follows OpenCV:
intrinsics K with square pixels and the principal point at the image centre, extrinsics as the 4x4
pose of the camera in the robot base frame with x right, y down, z forward.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from simreal.errors import UserError
from simreal.sim.rendering import TiledRenderer

# MuJoCo cameras look along -z with +y up; OpenCV's look along +z with +y down.
_MJ_TO_CV = np.diag([1.0, -1.0, -1.0])


class CameraRig:
    """Renders the named cameras of `model` from the state in `data`."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData):
        self.model, self.data = model, data
        self.names = tuple(model.camera(i).name for i in range(model.ncam))
        self._renderer: TiledRenderer | None = None  # created on first use (allocates a GL context)

    def check(self, name: str) -> int:
        """The camera's id; UserError naming the valid cameras if `name` is not one of them."""
        if name not in self.names:
            raise UserError(f"unknown camera {name!r}; this scene has {', '.join(self.names)}")
        return self.model.camera(name).id

    def render(
        self, views: list[tuple[str, tuple[int, int]]], rgb: bool = True, depth: bool = True
    ) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
        """Renders every (camera name, (H, W)) in `views` in one pass: a list of (uint8 (H, W, 3)
        colour or None, float32 (H, W) metric planar depth in metres or None)."""
        ids = [(self.check(name), (int(size[0]), int(size[1]))) for name, size in views]
        if self._renderer is None:
            self._renderer = TiledRenderer(self.model)
        try:
            return self._renderer.render(self.data, ids, rgb, depth)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    def render_rgb(self, name: str, size: tuple[int, int]) -> np.ndarray:
        """uint8 (H, W, 3) colour image from camera `name`, `size` = (H, W) pixels."""
        return self.render([(name, size)], rgb=True, depth=False)[0][0]

    def render_depth(self, name: str, size: tuple[int, int]) -> np.ndarray:
        """float32 (H, W) metric planar depth (m along the optical axis) from camera `name`."""
        return self.render([(name, size)], rgb=False, depth=True)[0][1]

    def render_rgbd(self, name: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Colour (uint8 H,W,3) and depth (float32 H,W, metres) of one scene update."""
        return self.render([(name, size)])[0]

    def intrinsics(self, name: str, size: tuple[int, int]) -> np.ndarray:
        """3x3 OpenCV K for camera `name` rendered at `size` = (H, W): f = (H/2) / tan(fovy/2) pixels,
        principal point at the image centre ((W-1)/2, (H-1)/2) in pixel-index coordinates."""
        cam = self.check(name)
        height, width = size
        focal = 0.5 * height / math.tan(math.radians(self.model.cam_fovy[cam]) / 2)
        return np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])

    def pose(self, name: str) -> np.ndarray:
        """4x4 T_base_cam: maps points in the OpenCV camera frame (x right, y down, z forward, metres)
        to the robot base frame. Needs up-to-date kinematics in `data` (any mj_step/mj_forward)."""
        cam = self.check(name)
        transform = np.eye(4)
        transform[:3, :3] = self.data.cam_xmat[cam].reshape(3, 3) @ _MJ_TO_CV
        transform[:3, 3] = self.data.cam_xpos[cam]
        return transform

    def table_motion(self, name: str, size: tuple[int, int], point: np.ndarray) -> np.ndarray | None:
        """2x2 d(u, v)/d(x, y) in pixels per metre: how the image of `point` (base frame) moves when
        the point moves in the base x-y plane, for camera `name` rendered at `size`. None for a camera
        attached to a body rather than the world (the wrist camera moves with the robot)."""
        cam = self.check(name)
        if self.model.cam_bodyid[cam] != 0:
            return None
        intrinsics, pose = self.intrinsics(name, size), self.pose(name)
        rotation_cam_base = pose[:3, :3].T
        x, y, z = rotation_cam_base @ (np.asarray(point, dtype=float) - pose[:3, 3])
        fx, fy = intrinsics[0, 0], intrinsics[1, 1]
        d_pixel_d_camera = np.array([[fx / z, 0.0, -fx * x / z**2], [0.0, fy / z, -fy * y / z**2]])
        return d_pixel_d_camera @ rotation_cam_base[:, :2]

    def close(self) -> None:
        """Frees the GL context."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
