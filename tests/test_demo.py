"""`simreal demo` with a tiny configuration: every step runs and leaves its output."""

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

from argparse import Namespace  # noqa: E402

from simreal.cli import main  # noqa: E402
from simreal.demo import DEMO_SHIFT_AUGMENT, demo_shift_augment  # noqa: E402

TINY = ["--episodes", "1", "--obs", "state", "--config", "tiny", "--steps", "2", "--batch-size", "8"]


def test_demo_runs_every_step(tmp_path, capsys):
    args = ["--eval-episodes", "2", "--ros-episodes", "1", "--out", str(tmp_path)]
    assert main(["demo", *TINY, *args]) == 0
    (run,) = tmp_path.iterdir()
    meta = json.loads((run / "dataset" / "meta" / "simreal.json").read_text())
    assert meta["expert"]["post_success_steps"] == 0  # MeanFlow's demos end at success
    assert (run / "replay_episode0.mp4").stat().st_size > 0
    assert (run / "train" / "checkpoints" / "last").exists()
    recipe = json.loads((run / "train" / "simreal_train.json").read_text())
    assert recipe["shift_augment_m"] == DEMO_SHIFT_AUGMENT  # pick_place with TCP-pose actions
    summary = json.loads((run / "eval.json").read_text())
    assert summary["episodes"] == 2 and 0.0 <= summary["success_rate"] <= 1.0
    ros = json.loads((run / "ros.json").read_text())
    assert ros["seeds"] == [summary["per_episode"][0]["seed"]]  # the evaluate step's first seed
    assert 90.0 < ros["command"]["command_rate_hz"] < 110.0 and ros["node"]["inferences"] >= 1
    video = summary["videos"][0]
    assert os.path.getsize(video) > 0
    out = capsys.readouterr().out
    for step in ("collect", "validate", "replay", "train", "evaluate", "ros"):
        assert step in out


def test_demo_help_explains_every_argument(capsys):
    try:
        main(["demo", "--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    for option in (
        "--steps",
        "--batch-size",
        "--lr",
        "--warmup-steps",
        "--eval-episodes",
        "--policy",
        "--config",
    ):
        assert option in out


def test_demo_shifts_the_scene_only_where_it_applies():
    default, off = Namespace(shift_augment=None), Namespace(shift_augment=0.0)
    cloud = ("state", "pointcloud")
    assert demo_shift_augment(default, "pick_place", cloud, "ee_pose") == DEMO_SHIFT_AUGMENT
    assert demo_shift_augment(off, "pick_place", cloud, "ee_pose") == 0.0
    assert demo_shift_augment(default, "push_t", cloud, "ee_pose") == 0.0  # fixed, unseen target
    assert demo_shift_augment(default, "pick_place", ("state", "rgb"), "ee_pose") == 0.0
    assert demo_shift_augment(default, "pick_place", cloud, "joint_pos") == 0.0
