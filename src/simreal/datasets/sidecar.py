"""The simreal sidecar `meta/simreal.json`: what LeRobot's own metadata does not record.

LeRobot's `meta/info.json` holds the feature schema and fps; the sidecar adds what is needed to
reproduce an episode (task name, controller, observation config, the reset seed of every episode)
and to keep evaluation seeds disjoint from demonstration seeds (every seed ever tried, failures
included).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from simreal.errors import UserError

SIDECAR_PATH = "meta/simreal.json"
SIDECAR_FORMAT = 1


def sidecar_file(root: str | Path) -> Path:
    return Path(root) / SIDECAR_PATH


def read_simreal_meta(root: str | Path) -> dict[str, Any]:
    """Read `<root>/meta/simreal.json`.

    Returns a dict with keys: format, task, task_description, controller, observation (the
    ObservationConfig as a dict), fps, robot_type, expert, env_overrides (task-config overrides of
    the latest session), features, episodes (list of {episode_index, seed, success, length,
    expert, env_overrides}) and discarded_seeds. Raises UserError when the file is
    missing or unreadable.
    """
    path = sidecar_file(root)
    if not path.is_file():
        raise UserError(f"{root} is not a simreal dataset: {SIDECAR_PATH} is missing")
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise UserError(f"{path} has an unknown format (expected format {SIDECAR_FORMAT})")
    return meta


def write_simreal_meta(root: str | Path, meta: dict[str, Any]) -> None:
    """Write the sidecar atomically (temp file + rename), so a crash never leaves half a file."""
    path = sidecar_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**meta, "format": SIDECAR_FORMAT}, indent=2, default=_jsonable))
    os.replace(tmp, path)


def used_seeds(meta: dict[str, Any]) -> set[int]:
    """Every reset seed this dataset has consumed: saved episodes and discarded attempts."""
    return {int(ep["seed"]) for ep in meta.get("episodes", [])} | {
        int(s) for s in meta.get("discarded_seeds", [])
    }


def _jsonable(value: Any) -> Any:
    # numpy scalars, tuples inside dataclass dicts and similar.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
