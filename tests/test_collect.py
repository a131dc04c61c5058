"""`simreal collect` on the real pick_place task: seeds, success filtering, interruption, bad input."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from simreal.cli import main  # noqa: E402
from simreal.collect import episode_seed  # noqa: E402
from simreal.datasets import read_simreal_meta, validate_dataset  # noqa: E402


def tree_digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_collects_successful_episodes_with_recorded_seeds(tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(
        ["collect", "--episodes", "2", "--obs", "state", "--out", str(out), "--seed", "7", "--no-progress"]
    )
    assert rc == 0
    assert "wrote 2 episodes" in capsys.readouterr().out
    meta = read_simreal_meta(out)
    assert [ep["seed"] for ep in meta["episodes"]] == [episode_seed(7, 0), episode_seed(7, 1)]
    assert all(ep["success"] for ep in meta["episodes"])
    assert (
        meta["expert"] == {"kind": "scripted", "noise": 1.0, "post_success_steps": 0}
        and meta["controller"] == "joint_pos"
    )
    report = validate_dataset(out)
    assert report.ok, report.problems
    assert report.frames == sum(ep["length"] for ep in meta["episodes"])

    # --resume continues the attempt numbering: new seeds, appended episodes
    rc = main(
        [
            "collect",
            "--episodes",
            "1",
            "--obs",
            "state",
            "--out",
            str(out),
            "--seed",
            "7",
            "--resume",
            "--no-progress",
        ]
    )
    assert rc == 0
    meta = read_simreal_meta(out)
    assert [ep["seed"] for ep in meta["episodes"]][-1] == episode_seed(7, 2)
    assert validate_dataset(out).episodes == 3


def test_failed_episodes_are_dropped_unless_kept(tmp_path, capsys):
    out = tmp_path / "dropped"
    # 5 steps is far too short to succeed: every attempt fails
    args = ["collect", "--episodes", "2", "--obs", "state", "--max-steps", "5", "--no-progress"]
    from simreal.collect import CollectConfig, collect
    from simreal.sim import ObservationConfig

    result = collect(
        CollectConfig("pick_place", 2, out, ObservationConfig.parse("state"), max_steps=5, max_attempts=3),
        progress=False,
    )
    assert (result.saved, result.attempts, result.successes) == (0, 3, 0)
    meta = read_simreal_meta(out)
    assert meta["episodes"] == [] and len(meta["discarded_seeds"]) == 3

    kept = tmp_path / "kept"
    assert main([*args, "--out", str(kept), "--keep-failed"]) == 0
    meta = read_simreal_meta(kept)
    assert [(ep["success"], ep["length"]) for ep in meta["episodes"]] == [(False, 5), (False, 5)]
    assert validate_dataset(kept).ok


def test_workers_write_the_dataset_one_process_writes(tmp_path):
    """Episodes stepped in two worker processes are written in attempt order: the same seeds, frames
    and actions as a single process, failures and the attempt limit included."""
    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from simreal.collect import CollectConfig, collect
    from simreal.sim import ObservationConfig

    def frames(out):
        return LeRobotDataset("local", root=out).hf_dataset.with_format("numpy")[:]

    obs = ObservationConfig.parse("state,pointcloud")
    cases = {
        "ok": ({}, (2, 2, 2)),
        "kept": ({"max_steps": 5, "keep_failed": True}, (2, 2, 0)),  # 5 steps: every attempt fails
        "given_up": ({"max_steps": 5, "max_attempts": 3}, (0, 3, 0)),
    }
    for name, (kw, expected) in cases.items():
        results, metas = [], []
        for workers in (1, 2):
            out = tmp_path / f"{name}{workers}"
            config = CollectConfig("pick_place", 2, out, obs, controller="ee_pose", workers=workers, **kw)
            results.append(collect(config, progress=False))
            metas.append(read_simreal_meta(out))
        counts = [(r.saved, r.attempts, r.successes, r.frames) for r in results]
        assert counts[0] == counts[1] and counts[0][:3] == expected, (name, counts)
        assert metas[0]["episodes"] == metas[1]["episodes"], name
        assert metas[0]["discarded_seeds"] == metas[1]["discarded_seeds"], name
        if expected[0]:
            one, two = frames(tmp_path / f"{name}1"), frames(tmp_path / f"{name}2")
            assert one.keys() == two.keys()
            for key in one:
                np.testing.assert_array_equal(one[key], two[key], err_msg=f"{name}: {key}")


def test_collect_up_to_tops_a_dataset_up_to_what_one_run_saves(tmp_path):
    """Topping up 2 episodes to 3 saves the episodes one run of 3 saves; at 3 nothing is collected."""
    from simreal.collect import CollectConfig, collect_up_to
    from simreal.sim import ObservationConfig

    def config(episodes, out):
        return CollectConfig("pick_place", episodes, out, ObservationConfig.parse("state"), seed=3)

    assert collect_up_to(config(2, tmp_path / "topped"), progress=False).saved == 2
    assert collect_up_to(config(3, tmp_path / "topped"), progress=False).saved == 1
    assert collect_up_to(config(3, tmp_path / "topped"), progress=False) is None
    collect_up_to(config(3, tmp_path / "once"), progress=False)
    topped, once = (read_simreal_meta(tmp_path / name)["episodes"] for name in ("topped", "once"))
    assert topped == once and len(once) == 3


def test_a_human_expert_is_one_worker(tmp_path, capsys):
    out = tmp_path / "teleop"
    argv = ["collect", "--expert", "keyboard", "--obs", "state", "--workers", "2", "--out", str(out)]
    assert main(argv) == 2
    assert "--workers 1" in capsys.readouterr().err and not out.exists()


def test_post_success_steps_record_the_expert_after_the_decisive_action(tmp_path):
    """Without steps after the success, pick_place's release is the episode's last frame; with 6, the
    expert's open jaw and retreat follow it, and the episode still replays as a success."""
    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from simreal.replay import replay_episode

    def collect_one(name, steps):
        out = tmp_path / name
        argv = ["collect", "--episodes", "1", "--obs", "state", "--controller", "ee_pose", "--out", str(out)]
        assert main([*argv, "--post-success-steps", str(steps), "--no-progress"]) == 0
        frames = LeRobotDataset("local", root=out).hf_dataset.with_format("numpy", columns=["action"])[:]
        return out, frames["action"]

    _, plain = collect_one("plain", 0)
    out, extended = collect_one("extended", 6)
    assert len(extended) == len(plain) + 6
    np.testing.assert_array_equal(extended[: len(plain)], plain)  # same seed: same episode up to success
    last_closed = lambda actions: int(np.nonzero(actions[:, 7] > 0.5)[0][-1])
    assert last_closed(plain) == len(plain) - 2  # the jaw opens on the final frame only
    assert last_closed(extended) == len(plain) - 2 and np.all(extended[len(plain) - 1 :, 7] < 0.5)
    meta = read_simreal_meta(out)
    assert meta["episodes"][0]["success"] and meta["episodes"][0]["length"] == len(extended)
    assert replay_episode(out, 0, progress=False).replayed_success


def test_recovery_demos_are_flagged_and_not_replayed(tmp_path, capsys):
    out = tmp_path / "recovery"
    argv = ["collect", "--episodes", "1", "--obs", "state", "--controller", "ee_pose", "--out", str(out)]
    assert main([*argv, "--recovery-demos", "1", "--no-progress"]) == 0
    episode = read_simreal_meta(out)["episodes"][0]
    assert episode["success"] and episode["perturbed"]
    assert episode["env_overrides"] == {"expert_miss_rate": 1.0}
    capsys.readouterr()
    assert main(["replay", str(out), "--episode", "0", "--no-progress"]) == 2
    assert "recovery demo" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [["--recovery-demos", "1.5"], ["--task", "push_t", "--recovery-demos", "0.3"]],
    ids=["range", "task"],
)
def test_recovery_demos_are_refused_where_they_cannot_apply(tmp_path, capsys, extra):
    out = tmp_path / "refused"
    assert main(["collect", "--episodes", "1", "--obs", "state", "--out", str(out), *extra]) == 2
    assert "--recovery-demos" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize(
    "sig, workers",
    [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)],
    ids=["SIGINT", "SIGTERM", "SIGINT-2-workers"],
)
def test_interrupted_collection_keeps_completed_episodes(tmp_path, sig, workers):
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "simreal.cli",
        "collect",
        "--episodes",
        "200",
        "--obs",
        "state,pointcloud",
        "--max-steps",
        "25",
        "--keep-failed",
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sidecar = out / "meta" / "simreal.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sidecar.is_file() and len(read_simreal_meta(out)["episodes"]) >= 2:
            break
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.2)
    time.sleep(0.3)  # land inside a later episode
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, output
    assert f"stopped by {sig.name}" in output
    report = validate_dataset(out)
    assert report.ok, report.problems
    meta = read_simreal_meta(out)
    assert report.episodes == len(meta["episodes"]) >= 2
    assert all(ep["length"] == 25 for ep in meta["episodes"])  # the partial episode was dropped


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_unknown_task_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["collect", "--task", "no_such_task", "--out", str(out), "--no-progress"]) == 2
    assert "unknown task 'no_such_task'" in one_line_error(capsys)
    assert not out.exists()


def test_unknown_camera_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["collect", "--cameras", "front,ceiling", "--out", str(out), "--no-progress"]) == 2
    assert "unknown camera 'ceiling'" in one_line_error(capsys)
    assert not out.exists()


def test_existing_dataset_of_another_schema_is_refused(tmp_path, capsys):
    out = tmp_path / "ds"
    base = [
        "collect",
        "--episodes",
        "1",
        "--max-steps",
        "3",
        "--keep-failed",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main([*base, "--obs", "state"]) == 0
    before = tree_digest(out)
    assert main([*base, "--obs", "state,pointcloud", "--resume"]) == 2
    assert "another schema" in one_line_error(capsys)
    assert main([*base, "--obs", "state", "--controller", "ee_delta", "--resume"]) == 2
    assert "controller 'joint_pos' != 'ee_delta'" in one_line_error(capsys)
    assert main([*base, "--obs", "state", "--post-success-steps", "5", "--resume"]) == 2
    assert "post_success_steps 0 != 5" in one_line_error(capsys)
    assert main([*base, "--obs", "state"]) == 2  # no --resume: refuse a non-empty directory
    assert "already exists" in one_line_error(capsys)
    assert tree_digest(out) == before


def test_resume_accepts_a_dataset_older_than_an_observation_setting(tmp_path):
    import json

    out = tmp_path / "older"
    base = ["collect", "--episodes", "1", "--obs", "state", "--out", str(out), "--no-progress"]
    assert main(base) == 0
    sidecar = out / "meta" / "simreal.json"
    meta = json.loads(sidecar.read_text())
    del meta["observation"]["env_state"]  # as written before env_state existed
    del meta["expert"]["post_success_steps"]  # and before episodes could go on after success
    sidecar.write_text(json.dumps(meta))
    assert main([*base, "--resume"]) == 0
    assert validate_dataset(out).episodes == 2
    assert main([*base, "--obs", "state,env_state", "--resume"]) == 2  # a real difference is refused
