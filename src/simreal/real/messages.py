"""ROS 2 message <-> numpy conversion for the messages simreal's nodes exchange.

Every conversion goes through ``array.array`` / ``np.frombuffer`` so that no hot path walks the elements
in Python (rosidl's generated setters check element by element unless handed an ``array.array`` of the
right type code). Stamps are ``builtin_interfaces/Time``; times in this module are float seconds.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, PoseStamped, Quaternion
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2, PointField
from std_msgs.msg import Float64MultiArray, Header, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from simreal.errors import UserError
from simreal.geometry import canonical_quat

_RGB_ENCODINGS = {"rgb8": False, "bgr8": True}  # encoding -> channels reversed


def _f64(values) -> array.array:
    """A float64 array.array from any array-like (one memcpy, no per-element check)."""
    return array.array("d", np.ascontiguousarray(values, dtype=np.float64).tobytes())


def seconds_to_time(seconds: float) -> Time:
    """Float seconds -> builtin_interfaces/Time."""
    sec = int(np.floor(seconds))
    return Time(sec=sec, nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def time_to_seconds(stamp: Time) -> float:
    """builtin_interfaces/Time -> float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_duration(seconds: float) -> Duration:
    """Float seconds (>= 0) -> builtin_interfaces/Duration."""
    sec = int(np.floor(seconds))
    return Duration(sec=sec, nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def header(stamp: float, frame_id: str = "") -> Header:
    """A std_msgs/Header stamped at ``stamp`` seconds in ``frame_id``."""
    return Header(stamp=seconds_to_time(stamp), frame_id=frame_id)


# --- JointState ---------------------------------------------------------------------------------


def joint_state_msg(names, position, velocity=None, *, stamp: float) -> JointState:
    """JointState with positions (rad or m for prismatic joints) and optional velocities."""
    msg = JointState(header=header(stamp), name=list(names))
    msg.position = _f64(position)
    if velocity is not None:
        msg.velocity = _f64(velocity)
    return msg


def joint_positions(msg: JointState, names=None) -> np.ndarray:
    """Positions of ``msg`` as float64, reordered to ``names`` when given.

    Raises UserError naming the joints that ``msg`` lacks.
    """
    position = np.frombuffer(msg.position, dtype=np.float64) if len(msg.position) else np.zeros(0)
    if names is None:
        return position.copy()
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing or len(position) != len(msg.name):
        raise UserError(f"joint_states lacks positions for {missing or list(names)}")
    return position[[index[n] for n in names]]


# --- Image / CameraInfo -------------------------------------------------------------------------


def image_msg(rgb: np.ndarray, *, stamp: float, frame_id: str) -> Image:
    """sensor_msgs/Image (rgb8) from a uint8 (H, W, 3) array."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise UserError(f"an rgb image must be (H, W, 3), got {rgb.shape}")
    height, width, _ = rgb.shape
    msg = Image(header=header(stamp, frame_id), height=height, width=width, encoding="rgb8", step=width * 3)
    msg.data = array.array("B", rgb.tobytes())
    return msg


def image_to_rgb(msg: Image) -> np.ndarray:
    """uint8 (H, W, 3) RGB view of an rgb8 or bgr8 sensor_msgs/Image (row padding honoured)."""
    if msg.encoding not in _RGB_ENCODINGS:
        raise UserError(f"image encoding {msg.encoding!r} is not supported (rgb8, bgr8)")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
    rgb = rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return rgb[..., ::-1] if _RGB_ENCODINGS[msg.encoding] else rgb


def camera_info_msg(k: np.ndarray, width: int, height: int, *, stamp: float, frame_id: str) -> CameraInfo:
    """sensor_msgs/CameraInfo of an ideal pinhole camera with 3x3 intrinsics ``k`` (pixels), no distortion."""
    k = np.asarray(k, dtype=np.float64).reshape(3, 3)
    projection = np.zeros((3, 4))
    projection[:, :3] = k
    msg = CameraInfo(header=header(stamp, frame_id), width=int(width), height=int(height))
    msg.distortion_model = "plumb_bob"
    msg.d = _f64(np.zeros(5))
    msg.k = k.ravel().tolist()
    msg.r = np.eye(3).ravel().tolist()
    msg.p = projection.ravel().tolist()
    return msg


def camera_info_to_k(msg: CameraInfo) -> np.ndarray:
    """3x3 intrinsics matrix of a CameraInfo."""
    return np.asarray(msg.k, dtype=np.float64).reshape(3, 3)


# --- PointCloud2 ----------------------------------------------------------------------------------

_XYZ_FIELDS = [
    PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
    PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
    PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
]
# PCL / RViz convention: colour packed as 0x00RRGGBB in the bytes of a float32 field named "rgb".
_RGB_FIELD = PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1)
_NUMPY_OF_POINTFIELD = {
    PointField.INT8: "i1",
    PointField.UINT8: "u1",
    PointField.INT16: "i2",
    PointField.UINT16: "u2",
    PointField.INT32: "i4",
    PointField.UINT32: "u4",
    PointField.FLOAT32: "f4",
    PointField.FLOAT64: "f8",
}


def pointcloud_msg(points: np.ndarray, *, stamp: float, frame_id: str) -> PointCloud2:
    """PointCloud2 from float (N, 3) xyz (m) or (N, 6) xyz + rgb in [0, 1] (packed into an "rgb" field)."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] not in (3, 6):
        raise UserError(f"a point cloud must be (N, 3) or (N, 6), got {points.shape}")
    n = points.shape[0]
    colour = points.shape[1] == 6
    packed = np.empty((n, 4 if colour else 3), dtype=np.float32)
    packed[:, :3] = points[:, :3]
    if colour:
        rgb8 = (np.clip(points[:, 3:6], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint32)
        word = (rgb8[:, 0] << 16) | (rgb8[:, 1] << 8) | rgb8[:, 2]
        packed[:, 3] = word.view(np.float32)
    msg = PointCloud2(header=header(stamp, frame_id), height=1, width=n, is_bigendian=False)
    msg.fields = _XYZ_FIELDS + ([_RGB_FIELD] if colour else [])
    msg.point_step = packed.shape[1] * 4
    msg.row_step = msg.point_step * n
    msg.is_dense = bool(np.isfinite(packed[:, :3]).all())
    msg.data = array.array("B", packed.tobytes())
    return msg


def pointcloud_to_numpy(msg: PointCloud2) -> np.ndarray:
    """float32 (N, 3) xyz, or (N, 6) xyz + rgb in [0, 1] when the cloud has a packed "rgb" field."""
    fields = {f.name: f for f in msg.fields}
    if not {"x", "y", "z"} <= fields.keys():
        raise UserError(f"point cloud has no x, y, z fields (has {sorted(fields)})")
    dtype = np.dtype(
        {
            "names": [f.name for f in msg.fields],
            "formats": [_NUMPY_OF_POINTFIELD[f.datatype] for f in msg.fields],
            "offsets": [f.offset for f in msg.fields],
            "itemsize": msg.point_step,
        }
    ).newbyteorder(">" if msg.is_bigendian else "<")
    cloud = np.frombuffer(msg.data, dtype=dtype, count=msg.width * msg.height)
    xyz = np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=1).astype(np.float32)
    if "rgb" not in fields:
        return xyz
    word = np.ascontiguousarray(cloud["rgb"]).astype(np.float32).view(np.uint32)
    rgb = np.stack([(word >> 16) & 0xFF, (word >> 8) & 0xFF, word & 0xFF], axis=1).astype(np.float32) / 255.0
    return np.concatenate([xyz, rgb], axis=1)


# --- PoseStamped -------------------------------------------------------------------------------


def pose_msg(position, quaternion_wxyz, *, stamp: float, frame_id: str) -> PoseStamped:
    """geometry_msgs/PoseStamped from a position (m) and a unit quaternion (w, x, y, z) in ``frame_id``."""
    p = np.asarray(position, dtype=np.float64)
    w, x, y, z = np.asarray(quaternion_wxyz, dtype=np.float64)
    msg = PoseStamped(header=header(stamp, frame_id))
    msg.pose.position = Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
    msg.pose.orientation = Quaternion(w=float(w), x=float(x), y=float(y), z=float(z))
    return msg


def pose_to_numpy(msg: PoseStamped) -> np.ndarray:
    """float64 (7,) = position (m) + quaternion (w, x, y, z): the layout of observation.state's tail,
    with the quaternion's sign chosen as in simulation (`simreal.geometry.canonical_quat`)."""
    p, q = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z, *canonical_quat([q.w, q.x, q.y, q.z])])


# --- Float64MultiArray / JointTrajectory ------------------------------------------------------


def float64_array_msg(values) -> Float64MultiArray:
    """std_msgs/Float64MultiArray holding a 1-D vector (ros2_control forward controller command)."""
    msg = Float64MultiArray()
    msg.data = _f64(values)
    msg.layout.dim = [MultiArrayDimension(label="joints", size=len(msg.data), stride=len(msg.data))]
    return msg


def float64_array_to_numpy(msg: Float64MultiArray) -> np.ndarray:
    """float64 copy of a Float64MultiArray's data (layout ignored: simreal sends 1-D vectors)."""
    return np.frombuffer(msg.data, dtype=np.float64).copy() if len(msg.data) else np.zeros(0)


def joint_trajectory_msg(
    names, positions: np.ndarray, times_from_start, velocities: np.ndarray | None = None, *, stamp: float
) -> JointTrajectory:
    """JointTrajectory with positions (T, J) (or (J,) for one point) reached at ``times_from_start`` (s).

    ``stamp`` is the trajectory start time (header.stamp); 0 means "start now" for ros2_control.
    """
    positions = np.atleast_2d(np.asarray(positions, dtype=np.float64))
    times = np.atleast_1d(np.asarray(times_from_start, dtype=np.float64))
    if len(times) != len(positions):
        raise UserError(f"{len(positions)} trajectory points but {len(times)} times")
    msg = JointTrajectory(header=header(stamp), joint_names=list(names))
    points = []
    for i, t in enumerate(times):  # one message per trajectory point, not per joint
        point = JointTrajectoryPoint(time_from_start=seconds_to_duration(float(t)))
        point.positions = _f64(positions[i])
        if velocities is not None:
            point.velocities = _f64(np.atleast_2d(velocities)[i])
        points.append(point)
    msg.points = points
    return msg


def joint_trajectory_to_numpy(msg: JointTrajectory, names=None) -> tuple[np.ndarray, np.ndarray]:
    """(times_from_start (T,) s, positions (T, J)) of a JointTrajectory, columns reordered to ``names``."""
    if not msg.points:
        raise UserError("joint trajectory has no points")
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
    positions = np.stack([np.frombuffer(p.positions, dtype=np.float64) for p in msg.points])
    if positions.shape[1] != len(msg.joint_names):
        raise UserError(
            f"trajectory points have {positions.shape[1]} positions for {len(msg.joint_names)} joints"
        )
    if names is not None:
        index = {name: i for i, name in enumerate(msg.joint_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise UserError(f"joint trajectory lacks joints {missing}")
        positions = positions[:, [index[n] for n in names]]
    return times, positions
