"""Feature schema: how simreal observations are stored in a LeRobotDataset, and how two schemas differ.

Storage rules (LeRobot v3.0):
- `observation.images.<cam>` uint8 (H, W, 3) -> dtype "video" (one MP4 stream per camera).
- `observation.depth.<cam>` float32 (H, W, 1) metres -> dtype "video" with `info.is_depth_map`
  (LeRobot's 12-bit log-quantised lossless HEVC; about 1 mm error at 2 m; depths are clipped to
  0.01..10 m, so a background at the far plane reads back as 10 m).
- `observation.pointcloud` float32 (N, 3) or (N, 6) and every other array -> a parquet column, exact.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

IMAGE_PREFIX = "observation.images."
DEPTH_PREFIX = "observation.depth."
POINTCLOUD_KEY = "observation.pointcloud"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
# LeRobot's bookkeeping columns (lerobot.utils.constants.DEFAULT_FEATURES), named here so that
# importing the schema does not import torch through lerobot.utils.
BOOKKEEPING_KEYS = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def storage_features(env_features: dict[str, dict], use_videos: bool = True) -> dict[str, dict]:
    """Map an env's feature dict (`env.unwrapped.features`) to the features the dataset is created with.

    Shapes become tuples (LeRobot compares frame shapes to them with `!=`), cameras become video
    (or PNG images with `use_videos=False`), depth cameras are tagged as depth maps.
    """
    out: dict[str, dict] = {}
    for key, ft in env_features.items():
        ft = deepcopy(ft)
        ft["shape"] = tuple(int(s) for s in ft["shape"])
        if key.startswith(IMAGE_PREFIX):
            ft["dtype"] = "video" if use_videos else "image"
            ft.setdefault("names", ["height", "width", "channels"])
        elif key.startswith(DEPTH_PREFIX):
            ft["dtype"] = "video" if use_videos else "image"
            ft.setdefault("names", ["height", "width", "channels"])
            ft["info"] = {**(ft.get("info") or {}), "is_depth_map": True}
        out[key] = ft
    return out


def user_features(features: dict[str, dict]) -> dict[str, dict]:
    """The features a recorder supplies per frame: everything but LeRobot's bookkeeping columns."""
    return {k: v for k, v in features.items() if k not in BOOKKEEPING_KEYS}


def schema_difference(expected: dict[str, dict], actual: dict[str, dict]) -> str | None:
    """The first difference between two feature dicts as one readable phrase, or None if they match.

    Compares feature names, dtypes, shapes and names; ignores video encoder details (codec, crf)
    and LeRobot's bookkeeping columns.
    """
    expected, actual = user_features(expected), user_features(actual)
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        return f"feature '{missing[0]}' is missing from the existing dataset"
    if extra:
        return f"the existing dataset has feature '{extra[0]}' that this run does not record"
    for key in sorted(expected):
        a, b = expected[key], actual[key]
        if a["dtype"] != b["dtype"]:
            return f"feature '{key}' dtype {b['dtype']} != {a['dtype']}"
        if tuple(a["shape"]) != tuple(b["shape"]):
            return f"feature '{key}' shape {tuple(b['shape'])} != {tuple(a['shape'])}"
        if _names(a) and _names(b) and _names(a) != _names(b):
            return f"feature '{key}' names {_names(b)} != {_names(a)}"
    return None


def pointcloud_channels(features: dict[str, dict]) -> int | None:
    """3 (xyz) or 6 (xyz + rgb) for a dataset with a point cloud, else None."""
    ft = features.get(POINTCLOUD_KEY)
    return None if ft is None else int(ft["shape"][-1])


def _names(ft: dict[str, Any]) -> list | None:
    names = ft.get("names")
    if isinstance(names, dict):  # LeRobot sometimes nests names, e.g. {"motors": [...]}
        names = [n for group in names.values() for n in group]
    return list(names) if names else None
