"""Which ROS topic feeds which dataset feature: the policy node's YAML observation spec.

Example (launch/config/pick_place_observations.yaml)::

    max_age: 0.2                     # s; an older observation is not used for inference
    features:
      observation.state:             # sources are concatenated in order
        - {topic: /joint_states, type: sensor_msgs/JointState, joints: [joint1, ..., finger]}
        - {topic: /ee_pose, type: geometry_msgs/PoseStamped}
      observation.images.front: {topic: /camera/front/image_raw, type: sensor_msgs/Image}
      observation.pointcloud: {topic: /camera/points, type: sensor_msgs/PointCloud2}

``check_features`` compares the spec with a checkpoint's input features and names every mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from simreal.errors import UserError

from . import messages

# type name -> (message class import path, width of the decoded vector or None when not a vector)
MESSAGE_TYPES = {
    "sensor_msgs/JointState": ("sensor_msgs.msg", "JointState"),
    "geometry_msgs/PoseStamped": ("geometry_msgs.msg", "PoseStamped"),
    "std_msgs/Float64MultiArray": ("std_msgs.msg", "Float64MultiArray"),
    "sensor_msgs/Image": ("sensor_msgs.msg", "Image"),
    "sensor_msgs/PointCloud2": ("sensor_msgs.msg", "PointCloud2"),
}


@dataclass(frozen=True)
class TopicSource:
    """One topic feeding (part of) a feature. ``joints`` orders a JointState; ``size`` sizes an array."""

    topic: str
    type: str
    joints: tuple[str, ...] | None = None
    size: int | None = None

    @property
    def width(self) -> int | None:
        """Length of the decoded vector, or None for images and point clouds."""
        if self.type == "sensor_msgs/JointState":
            return len(self.joints) if self.joints else None
        if self.type == "geometry_msgs/PoseStamped":
            return 7
        if self.type == "std_msgs/Float64MultiArray":
            return self.size
        return None

    def message_class(self):
        import importlib

        module, name = MESSAGE_TYPES[self.type]
        return getattr(importlib.import_module(module), name)

    def decode(self, msg) -> np.ndarray:
        """The message as the numpy value the policy sees (float32 vectors, uint8 images, float32 clouds)."""
        if self.type == "sensor_msgs/JointState":
            return messages.joint_positions(msg, self.joints).astype(np.float32)
        if self.type == "geometry_msgs/PoseStamped":
            return messages.pose_to_numpy(msg).astype(np.float32)
        if self.type == "std_msgs/Float64MultiArray":
            value = messages.float64_array_to_numpy(msg).astype(np.float32)
            if self.size is not None and value.shape != (self.size,):
                raise UserError(f"{self.topic}: expected {self.size} values, got {value.shape}")
            return value
        if self.type == "sensor_msgs/Image":
            return messages.image_to_rgb(msg).copy()
        return messages.pointcloud_to_numpy(msg)


@dataclass(frozen=True)
class ObservationSpec:
    """Feature name -> its topic sources (concatenated along the last axis), and the max age (s)."""

    features: dict[str, tuple[TopicSource, ...]]
    max_age: float = 0.2

    @classmethod
    def from_dict(cls, data: dict) -> ObservationSpec:
        if not isinstance(data, dict) or not isinstance(data.get("features"), dict) or not data["features"]:
            raise UserError("observation spec needs a non-empty 'features' mapping")
        features = {}
        for name, sources in data["features"].items():
            sources = sources if isinstance(sources, list) else [sources]
            parsed = []
            for src in sources:
                if not isinstance(src, dict) or "topic" not in src or "type" not in src:
                    raise UserError(f"observation spec: {name} needs 'topic' and 'type' for each source")
                if src["type"] not in MESSAGE_TYPES:
                    raise UserError(
                        f"observation spec: {name} has type {src['type']!r}; valid: {list(MESSAGE_TYPES)}"
                    )
                unknown = set(src) - {"topic", "type", "joints", "size"}
                if unknown:
                    raise UserError(f"observation spec: {name} has unknown keys {sorted(unknown)}")
                joints = tuple(src["joints"]) if src.get("joints") else None
                parsed.append(TopicSource(src["topic"], src["type"], joints, src.get("size")))
            if len(parsed) > 1 and any(s.width is None for s in parsed):
                raise UserError(f"observation spec: {name} concatenates sources of unknown width")
            features[name] = tuple(parsed)
        max_age = float(data.get("max_age", 0.2))
        if max_age <= 0:
            raise UserError(f"observation spec: max_age must be positive, got {max_age}")
        return cls(features, max_age)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ObservationSpec:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"observation spec {path} does not exist")
        return cls.from_dict(yaml.safe_load(path.read_text()))

    def sources(self):
        """(feature, index, source) for every topic source."""
        for name, sources in self.features.items():
            for i, src in enumerate(sources):
                yield name, i, src

    def check_features(self, policy_features: dict) -> None:
        """Raise UserError naming every difference from a checkpoint's observation features.

        ``policy_features``: LeRobot features dict ({name: {"shape": ...}}) of the policy's inputs.
        """
        wanted = {k: v for k, v in policy_features.items() if k.startswith("observation.")}
        problems = []
        missing = sorted(set(wanted) - set(self.features))
        extra = sorted(set(self.features) - set(wanted))
        if missing:
            problems.append(f"checkpoint needs {missing} but no topic is declared for them")
        if extra:
            problems.append(f"topics are declared for {extra} which the checkpoint does not use")
        for name in sorted(set(wanted) & set(self.features)):
            shape = tuple(wanted[name]["shape"])
            widths = [s.width for s in self.features[name]]
            if None not in widths and len(shape) == 1 and sum(widths) != shape[0]:
                problems.append(f"{name}: checkpoint expects {shape[0]} values, topics give {sum(widths)}")
        if problems:
            raise UserError("observation spec does not match the checkpoint: " + "; ".join(problems))
