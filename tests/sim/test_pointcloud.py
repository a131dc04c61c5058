"""The fused point cloud against ground truth: a cube at a known pose."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from simreal.sim import ObservationConfig, make_env
from simreal.sim.pointcloud import CropConfig, depth_to_camera_points, farthest_point_indices

CUBE = np.array([0.52, 0.08, 0.025])
YAW = 0.35


def box_distance(points: np.ndarray, centre: np.ndarray, yaw: float, half: float) -> np.ndarray:
    """Unsigned distance (m) of base-frame points to the surface of a cube rotated by yaw about z."""
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    local = (points - centre) @ rot  # rot^T (p - c)
    outside = np.linalg.norm(np.maximum(np.abs(local) - half, 0), axis=1)
    inside = np.minimum(np.max(np.abs(local) - half, axis=1), 0)
    return np.abs(outside + inside), local


@pytest.mark.parametrize("cameras", [("front",), ("wrist",), ("front", "wrist")])
def test_cube_cloud_matches_ground_truth(cameras):
    box = CropConfig(low=(CUBE[0] - 0.1, CUBE[1] - 0.1, -0.01), high=(CUBE[0] + 0.1, CUBE[1] + 0.1, 0.2))
    env = make_env(
        "pick_place",
        obs=ObservationConfig(rgb=False, num_points=512, pointcloud_color=True),
        pointcloud_cameras=cameras,
        pointcloud_image_size=(128, 128),
        crop=box,
    )
    env.reset(seed=0)
    q = env.model.joint("cube").qposadr[0]
    env.data.qpos[q : q + 7] = (*CUBE, np.cos(YAW / 2), 0, 0, np.sin(YAW / 2))
    env.data.mocap_pos[0] = (0.3, -0.4, 0.0)  # the pad out of the crop box
    mujoco.mj_forward(env.model, env.data)
    cloud = env.observe()["observation.pointcloud"]
    assert cloud.shape == (512, 6) and cloud.dtype == np.float32
    half = env.config.cube_half_size
    dist, local = box_distance(cloud[:, :3].astype(float), CUBE, YAW, half)
    assert dist.max() < 2e-3, f"worst point {dist.max() * 1e3:.2f} mm off the cube surface"
    # Top face: fully visible from both cameras; its points centre on the cube's axis.
    top = cloud[local[:, 2] > half - 1e-3, :3]
    assert len(top) > 50
    assert np.linalg.norm(top[:, :2].mean(0) - CUBE[:2]) < 5e-3
    extent = local[local[:, 2] > half - 1e-3, :2].max(0) - local[local[:, 2] > half - 1e-3, :2].min(0)
    assert np.all(extent > 1.6 * half)  # the samples cover the face, not one corner
    # Colour comes from the red cube (lit, so not pure red).
    assert np.all(cloud[:, 3] > cloud[:, 4] + 0.2)


def test_unprojection_of_a_fronto_parallel_plane():
    k = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    points = depth_to_camera_points(np.full((48, 64), 2.0), k).reshape(48, 64, 3)
    np.testing.assert_allclose(points[..., 2], 2.0)
    np.testing.assert_allclose(points[0, 0], [-31.5 * 2 / 50, -23.5 * 2 / 50, 2.0])  # top-left: x-, y- (up)
    np.testing.assert_allclose(points[47, 63], [31.5 * 2 / 50, 23.5 * 2 / 50, 2.0])


def test_farthest_point_sampling_spreads_and_pads():
    rng = np.random.default_rng(0)
    cluster = np.concatenate([rng.normal(0, 0.001, (5000, 3)), [[1.0, 0, 0]]])
    index = farthest_point_indices(cluster, 16)
    assert len(set(index.tolist())) == 16 and 5000 in index  # the outlier is always picked
    np.testing.assert_array_equal(farthest_point_indices(cluster[:3], 7), [0, 1, 2, 0, 1, 2, 0])
    assert len(farthest_point_indices(cluster[:0], 7)) == 0
