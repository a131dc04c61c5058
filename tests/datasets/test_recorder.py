"""DatasetRecorder: values round-trip through LeRobot's files, resume appends, bad input changes nothing."""

import hashlib
import json

import numpy as np
import pytest
from dataset_recording import STEPS, record_episodes

from simreal.datasets import open_dataset, read_episode_columns, read_simreal_meta, validate_dataset
from simreal.errors import UserError


def tree_digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_round_trip_values(recorded):
    root, written = recorded
    ds = open_dataset(root)
    assert ds.num_episodes == 2 and len(ds) == 2 * STEPS
    for ep, frames in enumerate(written):
        cols = read_episode_columns(root, ep, ["observation.state", "observation.pointcloud", "action"])
        for t, (obs, action) in enumerate(frames):
            item = ds[ep * STEPS + t]
            # parquet columns are exact, both through our reader and LeRobot's
            np.testing.assert_array_equal(cols["observation.state"][t], obs["observation.state"])
            np.testing.assert_array_equal(cols["observation.pointcloud"][t], obs["observation.pointcloud"])
            np.testing.assert_array_equal(
                item["observation.pointcloud"].numpy(), obs["observation.pointcloud"]
            )
            np.testing.assert_array_equal(item["action"].numpy(), action)
            assert item["observation.pointcloud"].shape == (512, 3)
            # video is lossy: AV1 for colour, 12-bit log-quantised HEVC for depth (metres, clipped
            # to LeRobot's 0.01..10 m range: the background far plane comes back as 10 m)
            rgb = item["observation.images.front"].numpy().transpose(1, 2, 0) * 255.0
            assert rgb.shape == (48, 64, 3)
            assert np.abs(rgb - obs["observation.images.front"]).mean() < 8.0
            depth = item["observation.depth.front"].numpy().reshape(48, 64)
            expected_depth = np.clip(obs["observation.depth.front"][..., 0], 0.01, 10.0)
            assert np.abs(depth - expected_depth).max() < 0.01
            assert item["task"] == "Pick up the red cube and place it on the green pad."
    meta = read_simreal_meta(root)
    assert [ep["seed"] for ep in meta["episodes"]] == [11, 12]
    assert [ep["length"] for ep in meta["episodes"]] == [STEPS, STEPS]
    assert meta["observation"]["cameras"] == ["front"] and meta["fps"] == 20


def test_existing_directory_refused_without_resume(dataset_copy):
    before = tree_digest(dataset_copy)
    with pytest.raises(UserError, match="already exists"):
        record_episodes(dataset_copy, episodes=1)
    assert tree_digest(dataset_copy) == before


def test_resume_appends(dataset_copy):
    record_episodes(dataset_copy, episodes=2, seeds=(21, 22), resume=True)
    meta = read_simreal_meta(dataset_copy)
    assert [ep["episode_index"] for ep in meta["episodes"]] == [0, 1, 2, 3]
    assert [ep["seed"] for ep in meta["episodes"]] == [11, 12, 21, 22]
    ds = open_dataset(dataset_copy)
    assert ds.num_episodes == 4 and len(ds) == 4 * STEPS
    assert ds[3 * STEPS]["episode_index"].item() == 3
    report = validate_dataset(dataset_copy, decode_videos=True)  # new video files, frames line up
    assert report.ok, report.problems
    assert report.video_frames_checked == 2 * 4 * STEPS


def test_resume_refuses_another_schema(dataset_copy):
    before = tree_digest(dataset_copy)
    with pytest.raises(
        UserError, match="another schema: the existing dataset has feature 'observation.depth.front'"
    ):
        record_episodes(dataset_copy, spec="state,rgb,pointcloud", episodes=1, resume=True)
    assert tree_digest(dataset_copy) == before


def test_nan_observation_is_refused(tmp_path):
    from simreal.datasets import DatasetRecorder

    features = {
        "observation.state": {"dtype": "float32", "shape": (3,), "names": None},
        "action": {"dtype": "float32", "shape": (2,), "names": None},
    }
    recorder = DatasetRecorder.open(
        tmp_path / "ds",
        env_features=features,
        fps=20,
        task="t",
        task_description="t",
        controller="joint_pos",
        observation={},
        expert={"kind": "scripted"},
    )
    with recorder:
        recorder.add_frame({"observation.state": np.zeros(3, np.float32)}, np.zeros(2))
        with pytest.raises(UserError, match="NaN"):
            recorder.add_frame({"observation.state": np.array([0, np.nan, 0], np.float32)}, np.zeros(2))
        with pytest.raises(UserError, match="has no 'observation.state'"):
            recorder.add_frame({}, np.zeros(2))
        recorder.save_episode(seed=1, success=True)
    assert json.loads((tmp_path / "ds" / "meta" / "simreal.json").read_text())["episodes"][0]["length"] == 1


def test_resume_refuses_a_corrupt_dataset(dataset_copy):
    path = dataset_copy / "data" / "chunk-000" / "file-000.parquet"
    path.write_bytes(path.read_bytes()[:100])
    before = tree_digest(dataset_copy)
    with pytest.raises(UserError, match="does not validate, nothing appended: .*file-000.parquet is corrupt"):
        record_episodes(dataset_copy, episodes=1, resume=True)
    assert tree_digest(dataset_copy) == before
