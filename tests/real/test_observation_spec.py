"""Observation spec parsing and the checkpoint feature check (no ROS)."""

import pytest

from simreal.errors import UserError
from simreal.real.observation_spec import ObservationSpec

STATE = [
    {"topic": "/joint_states", "type": "sensor_msgs/JointState", "joints": [f"j{i}" for i in range(8)]},
    {"topic": "/ee_pose", "type": "geometry_msgs/PoseStamped"},
]
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": (15,)},
    "observation.pointcloud": {"dtype": "float32", "shape": (512, 3)},
    "action": {"dtype": "float32", "shape": (8,)},
}


def spec(**features):
    return ObservationSpec.from_dict({"features": features})


def test_matching_spec_passes():
    spec(
        **{
            "observation.state": STATE,
            "observation.pointcloud": {"topic": "/p", "type": "sensor_msgs/PointCloud2"},
        }
    ).check_features(FEATURES)


def test_mismatch_names_every_problem():
    bad = spec(
        **{
            "observation.state": STATE[:1],
            "observation.images.front": {"topic": "/front", "type": "sensor_msgs/Image"},
        }
    )
    with pytest.raises(UserError) as err:
        bad.check_features(FEATURES)
    text = str(err.value)
    assert "observation.pointcloud" in text and "observation.images.front" in text
    assert "expects 15 values, topics give 8" in text


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"features": {"observation.state": {"topic": "/x"}}},
        {"features": {"observation.state": {"topic": "/x", "type": "sensor_msgs/Imu"}}},
        {"features": {"observation.state": {"topic": "/x", "type": "sensor_msgs/Image", "rate": 3}}},
        {"features": {"observation.state": STATE}, "max_age": -1},
    ],
)
def test_bad_spec_is_a_user_error(data):
    with pytest.raises(UserError):
        ObservationSpec.from_dict(data)
