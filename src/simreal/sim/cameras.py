"""Camera rendering and calibration for a MuJoCo scene.

One `mujoco.Renderer` per image size, created on first use and reused for every frame (creating a
renderer allocates a GL context and framebuffers: far too slow per step). Calibration follows OpenCV:
intrinsics K with square pixels and the principal point at the image centre, extrinsics as the 4x4
pose of the camera in the robot base frame with x right, y down, z forward.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from simreal.errors import UserError

# MuJoCo cameras look along -z with +y up; OpenCV's look along +z with +y down.
_MJ_TO_CV = np.diag([1.0, -1.0, -1.0])


class CameraRig:
    """Renders the named cameras of `model` from the state in `data`."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData):
        self.model, self.data = model, data
        self.names = tuple(model.camera(i).name for i in range(model.ncam))
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}

    def check(self, name: str) -> int:
        """The camera's id; UserError naming the valid cameras if `name` is not one of them."""
        if name not in self.names:
            raise UserError(f"unknown camera {name!r}; this scene has {', '.join(self.names)}")
        return self.model.camera(name).id

    def _renderer(self, size: tuple[int, int]) -> mujoco.Renderer:
        height, width = size
        if (height, width) not in self._renderers:
            limit = self.model.vis.global_.offheight, self.model.vis.global_.offwidth
            if height > limit[0] or width > limit[1]:
                raise UserError(f"image size {height}x{width} exceeds the scene's framebuffer {limit}")
            self._renderers[(height, width)] = mujoco.Renderer(self.model, height, width)
        return self._renderers[(height, width)]

    def render_rgb(self, name: str, size: tuple[int, int]) -> np.ndarray:
        """uint8 (H, W, 3) colour image from camera `name`, `size` = (H, W) pixels."""
        self.check(name)
        renderer = self._renderer(size)
        renderer.update_scene(self.data, camera=name)
        return renderer.render()

    def render_depth(self, name: str, size: tuple[int, int]) -> np.ndarray:
        """float32 (H, W) metric planar depth (m along the optical axis) from camera `name`."""
        self.check(name)
        renderer = self._renderer(size)
        renderer.update_scene(self.data, camera=name)
        renderer.enable_depth_rendering()
        try:
            return renderer.render().astype(np.float32, copy=False)
        finally:
            renderer.disable_depth_rendering()

    def render_rgbd(self, name: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Colour (uint8 H,W,3) and depth (float32 H,W, metres) of one scene update."""
        self.check(name)
        renderer = self._renderer(size)
        renderer.update_scene(self.data, camera=name)
        rgb = renderer.render()
        renderer.enable_depth_rendering()
        try:
            depth = renderer.render().astype(np.float32, copy=False)
        finally:
            renderer.disable_depth_rendering()
        return rgb, depth

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

    def close(self) -> None:
        """Frees the GL contexts."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
