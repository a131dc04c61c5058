"""`simreal dataset info DIR` and `simreal dataset validate DIR`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simreal.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="schema, episodes, frames, fps, task and sizes of a dataset")
    info.add_argument("path", type=Path, help="dataset directory")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    validate = sub.add_parser(
        "validate",
        help="check schema, indices, frame counts, NaN/inf, point clouds and videos; exit 2 on a problem",
    )
    validate.add_argument("path", type=Path, help="dataset directory")
    validate.add_argument(
        "--decode", action="store_true", help="decode every video frame (default: count frames from packets)"
    )


def run(args: argparse.Namespace) -> int:
    if not args.path.is_dir():
        raise UserError(f"{args.path} is not a directory")
    if args.action == "info":
        return _info(args.path, as_json=args.json)
    return _validate(args.path, decode=args.decode)


def _info(path: Path, as_json: bool) -> int:
    from simreal.datasets import dataset_summary

    summary = dataset_summary(path)
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    console = Console()
    seeds = summary["seeds"]
    seed_text = ", ".join(map(str, seeds[:4])) + (f", ... ({len(seeds)} in all)" if len(seeds) > 4 else "")
    sizes = summary["size_bytes"]
    overview = Table(show_header=False, box=None)
    for name, value in (
        ("path", summary["path"]),
        ("task", f"{summary['task']}: {summary['task_description']}"),
        ("controller", summary["controller"]),
        ("robot", summary["robot_type"]),
        ("expert", json.dumps(summary["expert"])),
        ("episodes", f"{summary['episodes']} ({summary['successful_episodes']} successful)"),
        ("frames", f"{summary['frames']} at {summary['fps']} fps ({summary['duration_s']:.1f} s)"),
        ("discarded attempts", summary["discarded_attempts"]),
        ("reset seeds", seed_text or "-"),
        ("size", f"{_mb(sizes['total'])} (data {_mb(sizes['data'])}, videos {_mb(sizes['videos'])})"),
    ):
        overview.add_row(name, str(value))
    console.print(overview)
    schema = Table(title="features")
    for column in ("name", "dtype", "shape", "storage"):
        schema.add_column(column)
    for ft in summary["schema"]:
        schema.add_row(ft["name"], ft["dtype"], str(tuple(ft["shape"])), ft["storage"])
    console.print(schema)
    return 0


def _validate(path: Path, decode: bool) -> int:
    from simreal.datasets import validate_dataset

    report = validate_dataset(path, decode_videos=decode)
    report.raise_if_invalid()
    print(
        f"{path}: valid ({report.episodes} episodes, {report.frames} frames, "
        f"{report.video_frames_checked} video frames checked)"
    )
    return 0


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"
