"""Depth images -> one point cloud in the robot base frame, as DP3 feeds its policy.

Per camera: metric planar depth -> points in the OpenCV camera frame through K -> base frame through
T_base_cam. Then: fuse the cameras, crop to a workspace box, optionally drop the table plane, and
down-sample to exactly N points by farthest-point sampling (open3d), padding by repetition when fewer
points survive. Colour, when asked for, travels with each point as rgb in [0, 1].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import open3d as o3d

# Farthest-point sampling costs ~1 us per input point per 512 samples; more than this many candidates
# per output point adds time but no coverage, so the candidates are first thinned by an even stride.
_CANDIDATES_PER_POINT = 2


@dataclass(frozen=True)
class CropConfig:
    """What survives into the cloud: points inside the box `low`..`high` (m, base frame) and, when
    `table_z` is set, above the plane z = table_z + `table_margin` (m)."""

    low: tuple[float, float, float] = (0.15, -0.5, -0.01)
    high: tuple[float, float, float] = (1.0, 0.5, 0.6)
    table_z: float | None = 0.0
    table_margin: float = 0.002


def depth_to_camera_points(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(H*W, 3) points in the OpenCV camera frame (m) from planar depth (H, W) and 3x3 K.

    Pixel (u, v) (column, row; row 0 at the top) at depth z maps to ((u - cx) z / fx, (v - cy) z / fy, z).
    """
    height, width = depth.shape[:2]
    z = depth.reshape(height, width).astype(np.float64)
    u = np.arange(width, dtype=np.float64)[None, :]
    v = np.arange(height, dtype=np.float64)[:, None]
    x = (u - intrinsics[0, 2]) * z / intrinsics[0, 0]
    y = (v - intrinsics[1, 2]) * z / intrinsics[1, 1]
    return np.stack([x, y, z], axis=-1).reshape(-1, 3)


@functools.lru_cache(maxsize=16)
def _pixel_rays(height: int, width: int, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """float32 (H*W, 3) rays K^-1 [u, v, 1] of every pixel in the OpenCV camera frame."""
    return depth_to_camera_points(
        np.ones((height, width)), np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    ).astype(np.float32)


def transform_points(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Applies a 4x4 homogeneous transform to (N, 3) points."""
    return points @ transform[:3, :3].T + transform[:3, 3]


def crop_mask(points: np.ndarray, crop: CropConfig) -> np.ndarray:
    """Boolean mask of the (N, 3) base-frame points kept by `crop`."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    (lx, ly, lz), (hx, hy, hz) = crop.low, crop.high
    if crop.table_z is not None:
        lz = max(lz, crop.table_z + crop.table_margin)
    # Column-wise comparisons: several times faster than np.all over an (N, 3) boolean array.
    return (x >= lx) & (x <= hx) & (y >= ly) & (y <= hy) & (z > lz) & (z <= hz)


def farthest_point_indices(points: np.ndarray, num_points: int) -> np.ndarray:
    """Indices of `num_points` rows of `points` chosen by farthest-point sampling (deterministic: it
    starts from the first candidate). Fewer points than asked are repeated cyclically; none gives []."""
    count = len(points)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if count <= num_points:
        return np.resize(np.arange(count), num_points)
    candidates = np.arange(count)
    if count > _CANDIDATES_PER_POINT * num_points:
        candidates = np.linspace(0, count - 1, _CANDIDATES_PER_POINT * num_points).astype(np.int64)
    # float64 C-contiguous input takes open3d's fast copy path; float32 is converted point by point.
    cloud = o3d.geometry.PointCloud(
        o3d.utility.Vector3dVector(np.ascontiguousarray(points[candidates], np.float64))
    )
    # Carry the candidate index in the colour channel to recover which rows were kept.
    tags = np.zeros((len(candidates), 3))
    tags[:, 0] = np.arange(len(candidates))
    cloud.colors = o3d.utility.Vector3dVector(tags)
    sampled = cloud.farthest_point_down_sample(num_points)
    return candidates[np.asarray(sampled.colors)[:, 0].round().astype(np.int64)]


def fuse_point_cloud(
    depths: list[np.ndarray],
    intrinsics: list[np.ndarray],
    poses: list[np.ndarray],
    num_points: int,
    crop: CropConfig,
    colors: list[np.ndarray] | None = None,
) -> np.ndarray:
    """float32 (num_points, 3), or (num_points, 6) with `colors`: xyz (m, base frame) [+ rgb in 0..1].

    `depths[i]` (H, W) metres, `intrinsics[i]` 3x3 K, `poses[i]` 4x4 T_base_cam (OpenCV camera frame),
    `colors[i]` uint8 (H, W, 3) registered with the depth image. If nothing survives the crop the cloud
    is all zeros (a policy sees "no points" rather than a crash).
    """
    points, rgb = [], []
    for i, (depth, k, pose) in enumerate(zip(depths, intrinsics, poses, strict=True)):
        # p_base = R (z * ray) + t = z * (R ray) + t, with the rays of K cached per camera size.
        rays = _pixel_rays(depth.shape[0], depth.shape[1], k[0, 0], k[1, 1], k[0, 2], k[1, 2])
        rot, shift = pose[:3, :3].T.astype(np.float32), pose[:3, 3].astype(np.float32)
        base_points = depth.reshape(-1, 1).astype(np.float32) * (rays @ rot) + shift
        keep = crop_mask(base_points, crop)
        points.append(base_points[keep])
        if colors is not None:
            rgb.append(colors[i].reshape(-1, 3)[keep].astype(np.float32) / 255.0)
    all_points = np.concatenate(points)
    index = farthest_point_indices(all_points, num_points)
    width = 6 if colors is not None else 3
    if len(index) == 0:
        return np.zeros((num_points, width), dtype=np.float32)
    cloud = all_points[index]
    if colors is not None:
        cloud = np.concatenate([cloud, np.concatenate(rgb)[index]], axis=1)
    return cloud.astype(np.float32)
