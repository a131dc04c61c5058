"""Offscreen rendering of several cameras in one pass over one GL context.

On Mesa's software rasteriser most of a small frame's cost is fixed: the pipeline flush and copy of
`mjr_readPixels`. So every camera of an observation is drawn into its own tile of one offscreen
framebuffer (tiles side by side), and colour and depth for all tiles come back in one read. This is
what `mujoco.Renderer` does for a single camera, batched; the depth linearisation is the same.
"""

from __future__ import annotations

import contextlib
import os

import mujoco
import numpy as np


def _gl_context_class():
    """EGL (headless) unless MUJOCO_GL names another backend. Imported explicitly because
    `mujoco.GLContext` is fixed when mujoco is first imported, possibly before MUJOCO_GL was set."""
    if os.environ.get("MUJOCO_GL", "egl") == "egl":
        from mujoco.egl import GLContext

        return GLContext
    return mujoco.GLContext


class TiledRenderer:
    """Renders (camera, size) views of `model`; one GL context and one MjvScene, reused every frame."""

    def __init__(self, model: mujoco.MjModel):
        self.model = model
        self.max_width = model.vis.global_.offwidth
        self.max_height = model.vis.global_.offheight
        self._gl = _gl_context_class()(self.max_width, self.max_height)
        self._gl.make_current()
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(model, maxgeom=1000)
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        extent = model.stat.extent
        near, far = model.vis.map.znear * extent, model.vis.map.zfar * extent
        # OpenGL's non-linear depth -> metric planar depth (as mujoco.Renderer computes it).
        self._depth_c = 0.5 * (far + near) / (far - near) - 0.5
        self._depth_d = far * near / (far - near)

    def render(
        self, data: mujoco.MjData, views: list[tuple[int, tuple[int, int]]], rgb: bool, depth: bool
    ) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
        """[(uint8 (H, W, 3) or None, float32 (H, W) metres or None)] for each (camera id, (H, W)) in
        `views`, rendered from `data` (rows top to bottom, as images are stored)."""
        total_width = sum(w for _, (_, w) in views)
        height = max(h for _, (h, _) in views)
        if total_width > self.max_width or height > self.max_height:
            raise ValueError(
                f"views need {height}x{total_width} pixels; framebuffer is {self.max_height}x{self.max_width}"
            )
        self._gl.make_current()
        x = 0
        for cam_id, (h, w) in views:
            self._camera.fixedcamid = cam_id
            mujoco.mjv_updateScene(
                self.model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
            )
            mujoco.mjr_render(mujoco.MjrRect(x, 0, w, h), self._scene, self._context)
            x += w
        strip = mujoco.MjrRect(0, 0, total_width, height)
        rgb_strip = np.empty((height, total_width, 3), np.uint8) if rgb else None
        depth_strip = np.empty((height, total_width), np.float32) if depth else None
        mujoco.mjr_readPixels(rgb_strip, depth_strip, strip, self._context)
        if depth:
            depth_strip = (self._depth_d / (depth_strip.astype(np.float64) + self._depth_c)).astype(
                np.float32
            )
        out, x = [], 0
        for _, (h, w) in views:
            # GL rows run bottom-up; a tile of height h occupies the strip's first h rows.
            tile_rgb = np.ascontiguousarray(rgb_strip[h - 1 :: -1, x : x + w]) if rgb else None
            tile_depth = np.ascontiguousarray(depth_strip[h - 1 :: -1, x : x + w]) if depth else None
            out.append((tile_rgb, tile_depth))
            x += w
        return out

    def close(self) -> None:
        """Frees the GL resources, in this renderer's own GL context."""
        if getattr(self, "_gl", None) is not None:
            self._gl.make_current()
            self._context.free()
            self._gl.free()
            self._gl = None

    # GL object ids are numbered per context, so a MjrContext freed by the garbage collector while
    # another renderer's context is current deletes *that* renderer's framebuffers (seen as noise
    # frames in a second env of the same process). Freeing here makes the right context current first.
    def __del__(self) -> None:
        # At interpreter exit EGL may already be torn down; nothing is left to free then.
        with contextlib.suppress(Exception):
            self.close()
