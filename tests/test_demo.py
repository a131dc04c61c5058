"""`simreal demo` with a tiny configuration: every step runs and leaves its output."""

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

from simreal.cli import main  # noqa: E402

TINY = ["--episodes", "1", "--obs", "state", "--config", "tiny", "--steps", "2", "--batch-size", "8"]


def test_demo_runs_every_step(tmp_path, capsys):
    assert main(["demo", *TINY, "--eval-episodes", "1", "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert (run / "dataset" / "meta" / "simreal.json").is_file()
    assert (run / "replay_episode0.mp4").stat().st_size > 0
    assert (run / "train" / "checkpoints" / "last").exists()
    summary = json.loads((run / "eval.json").read_text())
    assert summary["episodes"] == 1 and summary["success_rate"] in (0.0, 1.0)
    (video,) = summary["videos"]
    assert os.path.getsize(video) > 0
    out = capsys.readouterr().out
    for step in ("collect", "validate", "replay", "train", "evaluate"):
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
