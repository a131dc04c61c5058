"""`simreal replay`: recorded actions from the recorded seed reproduce the recorded states exactly."""

import json
import os

import av
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from simreal.cli import main  # noqa: E402
from simreal.replay import replay_episode  # noqa: E402

STEPS = 30


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("replay") / "ds"
    args = ["collect", "--episodes", "2", "--obs", "state,pointcloud", "--max-steps", str(STEPS)]
    assert main([*args, "--keep-failed", "--out", str(out), "--no-progress"]) == 0
    return out


def test_replay_is_deterministic_and_renders_a_video(dataset, tmp_path, capsys):
    video = tmp_path / "replay.mp4"
    assert main(["replay", str(dataset), "--episode", "1", "--out", str(video)]) == 0
    assert "max |replayed - recorded| observation.state: 0 " in capsys.readouterr().out
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert len(frames) == STEPS
    assert (frames[0].height, frames[0].width) == (240, 320)  # the task's render size


def test_replay_result_reports_every_parquet_observation(dataset):
    from simreal.datasets import read_simreal_meta

    assert read_simreal_meta(dataset)["episodes"][0]["env_overrides"] == {"max_episode_steps": STEPS}
    result = replay_episode(dataset, 0)
    assert result.frames == STEPS
    assert result.max_abs_error["observation.state"] == 0.0
    # the point cloud is rendered again: equal up to float rounding in the depth readback
    assert result.max_abs_error["observation.pointcloud"] < 1e-4


def test_replay_with_the_wrong_seed_fails_loudly(dataset, tmp_path, capsys):
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    sidecar = copy / "meta" / "simreal.json"
    meta = json.loads(sidecar.read_text())
    meta["episodes"][0]["seed"] += 1  # another initial scene: the actions no longer reproduce the states
    sidecar.write_text(json.dumps(meta))
    assert main(["replay", str(copy), "--episode", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "diverged" in err


def test_replay_unknown_episode_exits_2(dataset, capsys):
    assert main(["replay", str(dataset), "--episode", "5"]) == 2
    assert "episode 5 does not exist" in capsys.readouterr().err
