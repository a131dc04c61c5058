"""Meta-World depth -> point cloud, as DP3 makes it: metric depth from one MuJoCo camera rendered
headless (MUJOCO_GL=egl), back-projected to the world frame, cropped to the workspace box, and
farthest-point sampled to a fixed count.

Written for mujoco 3.3 (Meta-World's pin); simreal.sim (mujoco >= 4) is not imported here. The maths
follows simreal/sim/pointcloud.py: pinhole intrinsics f = (H/2) / tan(fovy/2), MuJoCo cameras look
along -z with +y up.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import open3d as o3d


@dataclass(frozen=True)
class WorkspaceCrop:
    """Axis-aligned box in Meta-World's world frame (metres). The default keeps the table-top scene
    above the table surface (z = 0) and drops the floor, the walls and the robot's far base."""

    low: tuple[float, float, float] = (-0.6, 0.25, 0.005)
    high: tuple[float, float, float] = (0.6, 1.05, 0.6)


class DepthCloudCamera:
    """Renders metric depth from a named camera of a Meta-World env and turns it into a point cloud.

    `model`, `data` are the env's `mujoco.MjModel` / `mujoco.MjData` (`env.unwrapped.model/data`).
    `position` moves the camera (its orientation is kept); the model is modified in place.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        camera: str = "corner2",
        size: int = 128,
        position: tuple[float, float, float] | None = None,
        num_points: int = 512,
        crop: WorkspaceCrop | None = None,
    ):
        self.model, self.camera, self.size, self.num_points = model, camera, size, num_points
        self.crop = crop or WorkspaceCrop()
        self.cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if self.cam_id < 0:
            raise ValueError(f"Meta-World model has no camera '{camera}'")
        if position is not None:
            model.cam_pos[self.cam_id] = position  # in the camera's parent body frame (metres)
        # Shadows and multisampling cost most of a CPU render and do not change depth.
        model.vis.quality.shadowsize = 0
        model.vis.quality.offsamples = 0
        self.renderer = mujoco.Renderer(model, size, size)
        self.renderer.enable_depth_rendering()
        f = (size / 2) / np.tan(np.deg2rad(model.cam_fovy[self.cam_id]) / 2)
        pix = np.arange(size, dtype=np.float64) + 0.5 - size / 2
        # Unit-depth rays in MuJoCo's camera frame (x right, y up, looking along -z); row 0 is the top.
        u, v = np.meshgrid(pix, pix)
        self._rays = np.stack([u / f, -v / f, -np.ones_like(u)], axis=-1).reshape(-1, 3)

    def depth(self, data: mujoco.MjData) -> np.ndarray:
        """Metric planar depth (H, W) in metres from the camera."""
        self.renderer.update_scene(data, camera=self.cam_id)
        return self.renderer.render().astype(np.float64)

    def world_points(self, data: mujoco.MjData) -> np.ndarray:
        """Every pixel back-projected to the world frame: (H*W, 3) metres."""
        depth = self.depth(data).reshape(-1, 1)
        points_cam = self._rays * depth
        rot = data.cam_xmat[self.cam_id].reshape(3, 3)
        return points_cam @ rot.T + data.cam_xpos[self.cam_id]

    def __call__(self, data: mujoco.MjData) -> np.ndarray:
        """The DP3 observation: float32 (num_points, 3) xyz in the world frame (metres)."""
        points = self.world_points(data)
        keep = np.all((points >= self.crop.low) & (points <= self.crop.high), axis=1)
        return farthest_point_sample(points[keep], self.num_points).astype(np.float32)

    def close(self) -> None:
        self.renderer.close()


def farthest_point_sample(points: np.ndarray, num_points: int) -> np.ndarray:
    """`num_points` rows of `points` (M, 3) by farthest-point sampling from row 0 (deterministic, as
    DP3's pytorch3d call without a random start), with open3d's C++ sampler (a numpy loop of 512
    iterations costs ~100 ms on a busy CPU). Fewer than `num_points` points are repeated."""
    if len(points) == 0:
        raise ValueError("the workspace crop left no points: check the camera and crop box")
    if len(points) <= num_points:
        return points[np.arange(num_points) % len(points)]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(points, np.float64)))
    return np.asarray(cloud.farthest_point_down_sample(num_points).points)
