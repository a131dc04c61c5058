"""validate_dataset and `simreal dataset validate`: a valid dataset passes, each corruption is named."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_recording import STEPS

from simreal.cli import main
from simreal.datasets import validate_dataset

DATA = "data/chunk-000/file-000.parquet"
FRONT_VIDEO = "videos/observation.images.front/chunk-000/file-000.mp4"


def test_valid_dataset_passes(recorded, capsys):
    report = validate_dataset(recorded[0], decode_videos=True)
    assert report.ok, report.problems
    assert (report.episodes, report.frames) == (2, 2 * STEPS)
    assert report.video_frames_checked == 2 * 2 * STEPS  # rgb and depth streams, every frame decoded
    assert main(["dataset", "validate", str(recorded[0])]) == 0
    assert "valid (2 episodes" in capsys.readouterr().out


def assert_invalid(root, expected, capsys):
    report = validate_dataset(root)
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems
    assert main(["dataset", "validate", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "simreal dataset: error:" in err


def test_truncated_parquet(dataset_copy, capsys):
    path = dataset_copy / DATA
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_invalid(dataset_copy, f"{DATA} is corrupt", capsys)


def test_truncated_episode_metadata(dataset_copy, capsys):
    rel = "meta/episodes/chunk-000/file-000.parquet"
    path = dataset_copy / rel
    path.write_bytes(path.read_bytes()[:-16])  # a writer killed before finalize leaves no footer
    assert_invalid(dataset_copy, f"{rel} is corrupt", capsys)


def test_nan_in_data(dataset_copy, capsys):
    path = dataset_copy / DATA
    table = pq.read_table(path)
    column = table.column("observation.state")
    rows = column.to_pylist()
    rows[STEPS + 3][2] = float("nan")  # episode 1, frame 3
    index = table.schema.get_field_index("observation.state")
    table = table.set_column(index, table.schema.field(index), pa.array(rows, type=column.type))
    pq.write_table(table, path)
    assert_invalid(dataset_copy, "NaN/inf in 'observation.state' (episode 1, frame 3)", capsys)


def test_deleted_video(dataset_copy, capsys):
    (dataset_copy / FRONT_VIDEO).unlink()
    assert_invalid(dataset_copy, f"{FRONT_VIDEO} is missing", capsys)


def test_truncated_video(dataset_copy, capsys):
    path = dataset_copy / FRONT_VIDEO
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    report = validate_dataset(dataset_copy)
    assert any(FRONT_VIDEO in p for p in report.problems), report.problems
    assert main(["dataset", "validate", str(dataset_copy)]) == 2


def test_sidecar_schema_mismatch(dataset_copy, capsys):
    sidecar = dataset_copy / "meta" / "simreal.json"
    meta = json.loads(sidecar.read_text())
    meta["features"]["observation.pointcloud"]["shape"] = [1024, 3]
    sidecar.write_text(json.dumps(meta))
    assert_invalid(
        dataset_copy, "does not match meta/simreal.json: feature 'observation.pointcloud' shape", capsys
    )


def test_sidecar_missing_episode(dataset_copy, capsys):
    sidecar = dataset_copy / "meta" / "simreal.json"
    meta = json.loads(sidecar.read_text())
    meta["episodes"].pop()
    sidecar.write_text(json.dumps(meta))
    assert_invalid(dataset_copy, "lists 1 episodes, the dataset holds 2", capsys)


def test_rows_missing_from_an_episode(dataset_copy, capsys):
    path = dataset_copy / DATA
    table = pq.read_table(path)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[STEPS + 5] = False  # drop episode 1, frame 5
    pq.write_table(table.filter(pa.array(keep)), path)
    assert_invalid(dataset_copy, f"episode 1: {STEPS - 1} rows in {DATA}, expected {STEPS}", capsys)


@pytest.mark.parametrize("target", ["meta/info.json", "meta/simreal.json"])
def test_missing_metadata(dataset_copy, target, capsys):
    (dataset_copy / target).unlink()
    assert main(["dataset", "validate", str(dataset_copy)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_info_summarises(recorded, capsys):
    assert main(["dataset", "info", str(recorded[0]), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 2 and summary["frames"] == 2 * STEPS and summary["fps"] == 20
    assert summary["task"] == "pick_place" and summary["seeds"] == [11, 12]
    shapes = {ft["name"]: tuple(ft["shape"]) for ft in summary["schema"]}
    assert shapes["observation.pointcloud"] == (512, 3)
    assert summary["size_bytes"]["videos"] > 0 and summary["size_bytes"]["data"] > 0
    assert main(["dataset", "info", str(recorded[0])]) == 0
    assert "observation.pointcloud" in capsys.readouterr().out
