"""Reading simreal datasets: the LeRobotDataset for training, raw columns for replay and checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simreal.datasets.sidecar import read_simreal_meta
from simreal.errors import UserError

__all__ = [
    "open_dataset",
    "read_simreal_meta",
    "column_to_numpy",
    "read_episode_columns",
    "read_episode_index",
]


def open_dataset(path: str | Path, delta_timestamps: dict[str, list[float]] | None = None):
    """Open a local dataset as a `LeRobotDataset` (offline; depth maps are returned in metres).

    `delta_timestamps` (seconds, multiples of 1/fps) gives observation history / action horizons
    as in LeRobot. Raises UserError when `path` is not a complete local dataset: LeRobot would
    otherwise try to download the missing files from the Hub.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = Path(path)
    info = root / "meta" / "info.json"
    if not info.is_file():
        raise UserError(f"{root} is not a LeRobot dataset: meta/info.json is missing")
    if not any((root / "data").glob("*/*.parquet")):
        raise UserError(f"{root} has no data files (data/chunk-*/file-*.parquet)")
    try:
        return LeRobotDataset(
            repo_id=f"simreal/{root.resolve().name}",
            root=root,
            delta_timestamps=delta_timestamps,
            depth_output_unit="m",
        )
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise UserError(f"cannot open dataset {root}: {_first_line(exc)}") from exc


def column_to_numpy(column: pa.ChunkedArray | pa.Array, shape: tuple[int, ...]) -> np.ndarray:
    """A parquet column of fixed-shape arrays (LeRobot's Sequence/Array2D) as one (rows, *shape) array.

    Flattens the nested list levels instead of going through Python lists, so a column of
    (512, 3) point clouds over thousands of frames converts at memory speed.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    rows = len(arr)
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    while (
        pa.types.is_list(arr.type)
        or pa.types.is_large_list(arr.type)
        or pa.types.is_fixed_size_list(arr.type)
    ):
        arr = arr.flatten()
    values = arr.to_numpy(zero_copy_only=False)
    expected = rows * int(np.prod(shape, dtype=np.int64))
    if values.size != expected:
        raise ValueError(f"{values.size} values where {rows} rows of shape {tuple(shape)} need {expected}")
    return values.reshape((rows, *shape))


def read_episode_columns(root: str | Path, episode_index: int, keys: list[str]) -> dict[str, np.ndarray]:
    """The parquet columns `keys` of one episode as numpy arrays (rows in frame order).

    Reads only that episode's rows (no video decoding). Raises UserError for an unknown episode.
    """
    from lerobot.datasets.io_utils import load_info

    root = Path(root)
    info = load_info(root)
    episodes = read_episode_index(root)
    if not 0 <= episode_index < len(episodes):
        raise UserError(f"episode {episode_index} does not exist ({root} has {len(episodes)} episodes)")
    episode = episodes[episode_index]
    path = root / info.data_path.format(
        chunk_index=episode["data/chunk_index"], file_index=episode["data/file_index"]
    )
    table = pq.read_table(
        path, columns=[*keys, "frame_index"], filters=[("episode_index", "=", episode_index)]
    )
    order = np.argsort(table.column("frame_index").to_numpy())
    return {
        key: column_to_numpy(table.column(key), tuple(info.features[key]["shape"]))[order] for key in keys
    }


def read_episode_index(root: str | Path) -> list[dict]:
    """LeRobot's per-episode rows (meta/episodes/*/*.parquet) without the stats columns, sorted by index.

    Each row holds episode_index, length, tasks, data/chunk_index, data/file_index,
    dataset_from_index, dataset_to_index and, per video key, videos/<key>/{chunk_index,
    file_index, from_timestamp, to_timestamp}. Read with pyarrow directly (no Hugging Face cache).
    UserError naming the file when one is unreadable.
    """
    rows: list[dict] = []
    root = Path(root)
    for path in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        try:
            schema = pq.read_schema(path)
            columns = [name for name in schema.names if not name.startswith("stats/")]
            rows.extend(pq.read_table(path, columns=columns).to_pylist())
        except (OSError, pa.ArrowException) as exc:
            raise UserError(
                f"{path.relative_to(root)} is corrupt ({_first_line(exc)}); was the recording killed "
                "before it was finalized?"
            ) from exc
    return sorted(rows, key=lambda row: row["episode_index"])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
