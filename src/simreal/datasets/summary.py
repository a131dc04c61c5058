"""What a dataset holds, in numbers: the data behind `simreal dataset info`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simreal.datasets.schema import user_features
from simreal.datasets.sidecar import read_simreal_meta


def dataset_summary(root: str | Path) -> dict[str, Any]:
    """Schema, episode and frame counts, fps, task and on-disk sizes of the dataset at `root`.

    Reads only metadata (meta/info.json and the sidecar) and file sizes. Raises UserError when
    `root` is not a simreal dataset.
    """
    from lerobot.datasets.io_utils import load_info

    root = Path(root)
    sidecar = read_simreal_meta(root)
    info = load_info(root)
    episodes = sidecar.get("episodes", [])
    seeds = [ep["seed"] for ep in episodes if ep.get("seed") is not None]
    schema = []
    for key, ft in user_features(dict(info.features)).items():
        video = ft.get("info") or {}
        storage = "parquet"
        if ft["dtype"] == "video":
            storage = f"video ({video.get('video.codec', '?')})"
        elif ft["dtype"] == "image":
            storage = "png in parquet"
        schema.append({"name": key, "dtype": ft["dtype"], "shape": list(ft["shape"]), "storage": storage})
    return {
        "path": str(root),
        "task": sidecar.get("task"),
        "task_description": sidecar.get("task_description"),
        "controller": sidecar.get("controller"),
        "robot_type": info.robot_type,
        "fps": info.fps,
        "expert": sidecar.get("expert"),
        "observation": sidecar.get("observation"),
        "episodes": info.total_episodes,
        "successful_episodes": sum(bool(ep.get("success")) for ep in episodes),
        "frames": info.total_frames,
        "duration_s": info.total_frames / info.fps,
        "seeds": seeds,
        "discarded_attempts": len(sidecar.get("discarded_seeds", [])),
        "schema": schema,
        "size_bytes": {
            "data": _tree_size(root / "data"),
            "videos": _tree_size(root / "videos"),
            "meta": _tree_size(root / "meta"),
            "total": _tree_size(root),
        },
    }


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0
