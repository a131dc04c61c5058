"""Checking a recorded dataset end to end: schema, indices, frame counts, values, videos.

Every check reads the files directly (pyarrow, PyAV) rather than through `LeRobotDataset`, so a
broken file is reported by name instead of surfacing as a stack trace from deep inside LeRobot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simreal.datasets.reading import column_to_numpy, read_episode_index
from simreal.datasets.schema import BOOKKEEPING_KEYS, POINTCLOUD_KEY, schema_difference, user_features
from simreal.datasets.sidecar import SIDECAR_PATH, read_simreal_meta
from simreal.errors import UserError


@dataclass
class ValidationReport:
    """What `validate_dataset` found. `problems` is empty for a valid dataset."""

    root: Path
    episodes: int = 0
    frames: int = 0
    video_frames_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_invalid(self) -> None:
        """UserError naming the first problem (and how many more there are)."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
            raise UserError(f"{self.root}: {self.problems[0]}{more}")


def validate_dataset(root: str | Path, decode_videos: bool = False) -> ValidationReport:
    """Check the dataset at `root` and return every problem found.

    Checks: meta/info.json and the sidecar agree on the schema and fps; episode indices run
    0..E-1 in LeRobot's metadata, the sidecar and the parquet rows; each episode's parquet rows
    match its length, frame indices and timestamps; no NaN/inf in float features; point clouds have
    the declared (N, 3|6) shape; each video holds exactly one frame per parquet row of each episode
    (packet timestamps, or full decoding with `decode_videos`).
    """
    from lerobot.datasets.io_utils import load_info

    report = ValidationReport(Path(root))
    root = report.root
    if not (root / "meta" / "info.json").is_file():
        report.problems.append("meta/info.json is missing: not a LeRobot dataset")
        return report
    try:
        info = load_info(root)
        sidecar = read_simreal_meta(root)
    except (UserError, ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"metadata unreadable: {exc}")
        return report
    if info.codebase_version != "v3.0":
        report.problems.append(f"LeRobot format {info.codebase_version}, expected v3.0")
    features = dict(info.features)
    diff = schema_difference(sidecar.get("features", {}), features)
    if diff:
        report.problems.append(f"meta/info.json does not match {SIDECAR_PATH}: {diff}")
    if sidecar.get("fps") != info.fps:
        report.problems.append(f"fps {info.fps} in meta/info.json but {sidecar.get('fps')} in {SIDECAR_PATH}")

    try:
        episodes = read_episode_index(root)
    except UserError as exc:
        report.problems.append(str(exc))
        return report
    report.episodes = len(episodes)
    _check_episode_index(report, info, sidecar, episodes)
    if report.problems:
        return report  # the per-file checks below assume a consistent index
    _check_data_files(report, info, features, sidecar, episodes)
    _check_videos(report, info, episodes, decode_videos)
    return report


def _check_episode_index(report: ValidationReport, info, sidecar: dict, episodes: list[dict]) -> None:
    indices = [int(ep["episode_index"]) for ep in episodes]
    if indices != list(range(len(indices))):
        gap = next(i for i, k in enumerate(indices) if k != i)
        report.problems.append(
            f"episode indices are not 0..{len(indices) - 1}: position {gap} holds {indices[gap]}"
        )
        return
    if info.total_episodes != len(episodes):
        report.problems.append(
            f"meta/info.json counts {info.total_episodes} episodes, meta/episodes holds {len(episodes)}"
        )
    side = sidecar.get("episodes", [])
    if len(side) != len(episodes):
        report.problems.append(
            f"{SIDECAR_PATH} lists {len(side)} episodes, the dataset holds {len(episodes)}"
        )
    for ep, rec in zip(episodes, side, strict=False):
        if int(rec.get("length", -1)) != int(ep["length"]):
            report.problems.append(
                f"episode {ep['episode_index']} has {ep['length']} frames "
                f"but {SIDECAR_PATH} says {rec.get('length')}"
            )
    start = 0
    for ep in episodes:
        if (ep["dataset_from_index"], ep["dataset_to_index"]) != (start, start + ep["length"]):
            report.problems.append(
                f"episode {ep['episode_index']} covers frames "
                f"{ep['dataset_from_index']}..{ep['dataset_to_index']}, "
                f"expected {start}..{start + ep['length']}"
            )
        start += ep["length"]
    report.frames = start
    if info.total_frames != start:
        report.problems.append(
            f"meta/info.json counts {info.total_frames} frames, the episodes add up to {start}"
        )


def _check_data_files(
    report: ValidationReport, info, features: dict, sidecar: dict, episodes: list[dict]
) -> None:
    by_file: dict[tuple[int, int], list[dict]] = {}
    for ep in episodes:
        by_file.setdefault((ep["data/chunk_index"], ep["data/file_index"]), []).append(ep)
    value_keys = [
        k for k, ft in user_features(features).items() if ft["dtype"] not in ("video", "image", "string")
    ]
    for (chunk, file), eps in sorted(by_file.items()):
        rel = info.data_path.format(chunk_index=chunk, file_index=file)
        try:
            table = pq.read_table(report.root / rel)
        except FileNotFoundError:
            report.problems.append(f"{rel} is missing")
            continue
        except (OSError, pa.ArrowException) as exc:
            report.problems.append(f"{rel} is corrupt: {_first_line(exc)}")
            continue
        missing = [k for k in (*value_keys, *BOOKKEEPING_KEYS) if k not in table.column_names]
        if missing:
            report.problems.append(f"{rel} lacks column '{missing[0]}'")
            continue
        ep_col = table.column("episode_index").to_numpy()
        for ep in eps:
            rows = np.flatnonzero(ep_col == ep["episode_index"])
            _check_episode_rows(report, rel, info, features, table.take(pa.array(rows)), ep, value_keys)
        expected = sum(ep["length"] for ep in eps)
        if table.num_rows != expected:
            report.problems.append(f"{rel} has {table.num_rows} rows, its episodes need {expected}")
    num_points = (sidecar.get("observation") or {}).get("num_points")
    if POINTCLOUD_KEY in features and num_points and features[POINTCLOUD_KEY]["shape"][0] != num_points:
        report.problems.append(
            f"'{POINTCLOUD_KEY}' holds {features[POINTCLOUD_KEY]['shape'][0]} points, "
            f"{SIDECAR_PATH} says num_points={num_points}"
        )


def _check_episode_rows(report, rel: str, info, features: dict, rows: pa.Table, ep: dict, value_keys) -> None:
    k, length = ep["episode_index"], ep["length"]
    if rows.num_rows != length:
        report.problems.append(f"episode {k}: {rows.num_rows} rows in {rel}, expected {length}")
        return
    frame_index = rows.column("frame_index").to_numpy()
    if not np.array_equal(frame_index, np.arange(length)):
        report.problems.append(f"episode {k}: frame_index is not 0..{length - 1}")
    index = rows.column("index").to_numpy()
    if not np.array_equal(index, np.arange(ep["dataset_from_index"], ep["dataset_to_index"])):
        report.problems.append(
            f"episode {k}: global index is not {ep['dataset_from_index']}..{ep['dataset_to_index'] - 1}"
        )
    timestamps = rows.column("timestamp").to_numpy()
    if np.abs(timestamps - frame_index / info.fps).max() > 1e-4:
        report.problems.append(f"episode {k}: timestamps do not follow {info.fps} fps")
    for key in value_keys:
        ft = features[key]
        if key == POINTCLOUD_KEY and (len(ft["shape"]) != 2 or ft["shape"][1] not in (3, 6)):
            report.problems.append(f"'{key}' has shape {tuple(ft['shape'])}, expected (N, 3) or (N, 6)")
        try:
            values = column_to_numpy(rows.column(key), tuple(ft["shape"]))
        except ValueError as exc:
            report.problems.append(f"episode {k}: '{key}' has the wrong shape ({exc})")
            continue
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values.reshape(length, -1)).all(axis=1)
            if bad.any():
                report.problems.append(
                    f"NaN/inf in '{key}' (episode {k}, frame {int(np.flatnonzero(bad)[0])})"
                )


def _check_videos(report: ValidationReport, info, episodes: list[dict], decode: bool) -> None:
    video_keys = [k for k, ft in info.features.items() if ft["dtype"] == "video"]
    for key in video_keys:
        by_file: dict[tuple[int, int], list[dict]] = {}
        for ep in episodes:
            by_file.setdefault((ep[f"videos/{key}/chunk_index"], ep[f"videos/{key}/file_index"]), []).append(
                ep
            )
        for (chunk, file), eps in sorted(by_file.items()):
            rel = info.video_path.format(video_key=key, chunk_index=chunk, file_index=file)
            try:
                times = _frame_times(report.root / rel, decode)
            except FileNotFoundError:
                report.problems.append(f"{rel} is missing")
                continue
            except Exception as exc:  # noqa: BLE001 - PyAV raises many error types for a broken file
                report.problems.append(f"{rel} is unreadable: {_first_line(exc)}")
                continue
            for ep in eps:
                lo, hi = ep[f"videos/{key}/from_timestamp"], ep[f"videos/{key}/to_timestamp"]
                # A frame belongs to the episode when its timestamp lies in [from, to); half a frame of slack.
                slack = 0.5 / info.fps
                count = int(np.count_nonzero((times >= lo - slack) & (times < hi - slack)))
                report.video_frames_checked += count
                if count != ep["length"]:
                    report.problems.append(
                        f"episode {ep['episode_index']}: {count} frames in {rel}, {ep['length']} parquet rows"
                    )


def _frame_times(path: Path, decode: bool) -> np.ndarray:
    """Presentation times (s) of every frame in the first video stream of `path`."""
    import av

    if not path.is_file():
        raise FileNotFoundError(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if decode:
            times = [frame.time for frame in container.decode(stream)]
        else:
            times = [float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None]
    return np.sort(np.asarray(times, dtype=np.float64))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
