"""`simreal demo` with a tiny configuration: every step runs and leaves its output."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from simreal.cli import main  # noqa: E402


def test_demo_runs_every_step(tmp_path, capsys):
    assert main(["demo", "--episodes", "1", "--obs", "state", "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert (run / "dataset" / "meta" / "simreal.json").is_file()
    assert (run / "replay_episode0.mp4").stat().st_size > 0
    out = capsys.readouterr().out
    for step in ("collect", "validate", "replay"):
        assert step in out
