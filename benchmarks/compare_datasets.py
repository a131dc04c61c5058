"""Are two simreal datasets the same to the bit? Frame counts per episode and, for every numeric
column both hold (actions, state, point clouds, ...), the largest absolute difference and the episodes
whose frames differ. Used to check that two commits (or two machines) collect identical demos.

    .venv/bin/python benchmarks/compare_datasets.py DATASET_A DATASET_B [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simreal.datasets.reading import column_to_numpy

SKIPPED = {"index", "timestamp", "frame_index", "episode_index", "task_index"}


def read_table(root: Path) -> pa.Table:
    files = sorted((root / "data").glob("*/*.parquet"))
    if not files:
        raise SystemExit(f"{root} has no data/chunk-*/file-*.parquet")
    return pa.concat_tables([pq.read_table(f) for f in files])


def compare(a_root: Path, b_root: Path) -> dict:
    a, b = read_table(a_root), read_table(b_root)
    shapes = {
        k: v["shape"] for k, v in json.loads((a_root / "meta" / "info.json").read_text())["features"].items()
    }
    episodes_a = np.asarray(a.column("episode_index"))
    lengths_a, lengths_b = (np.bincount(np.asarray(t.column("episode_index"))) for t in (a, b))
    result = {
        "frames": [a.num_rows, b.num_rows],
        "episodes": [len(lengths_a), len(lengths_b)],
        "episodes_of_other_length": []
        if len(lengths_a) != len(lengths_b)
        else np.nonzero(lengths_a != lengths_b)[0].tolist(),  # per-episode only when the counts agree
        "columns": {},
        "identical": False,
    }
    if a.num_rows != b.num_rows or len(lengths_a) != len(lengths_b):
        return result
    for key in sorted(set(a.column_names) & set(b.column_names) - SKIPPED):
        if key not in shapes or not pa.types.is_floating(_leaf_type(a.schema.field(key).type)):
            continue
        x = column_to_numpy(a.column(key), tuple(shapes[key])).reshape(a.num_rows, -1)
        y = column_to_numpy(b.column(key), tuple(shapes[key])).reshape(b.num_rows, -1)
        differs = np.nonzero((x != y).any(axis=1))[0]
        result["columns"][key] = {
            "max_abs_diff": float(np.abs(x.astype(np.float64) - y).max()),
            "frames_differing": int(len(differs)),
            "episodes_differing": sorted(set(episodes_a[differs].tolist())),
        }
    result["identical"] = not result["episodes_of_other_length"] and all(
        c["frames_differing"] == 0 for c in result["columns"].values()
    )
    return result


def _leaf_type(kind: pa.DataType) -> pa.DataType:
    while pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind) or pa.types.is_large_list(kind):
        kind = kind.value_type
    return kind


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--json", type=Path, help="write the comparison as JSON here")
    args = parser.parse_args()
    result = compare(args.a, args.b)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
