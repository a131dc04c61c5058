"""The `simreal train` command line: arguments, help and refusals (the loop is in tests/training/)."""

import argparse

import pytest

from simreal import train
from simreal.cli import main
from simreal.errors import UserError


def parse(*argv):
    parser = argparse.ArgumentParser()
    train.configure(parser)
    return parser.parse_args(argv)


def test_help_explains_every_argument():
    parser = argparse.ArgumentParser()
    train.configure(parser)
    for action in parser._actions:
        assert action.help, action.dest


def test_command_line_becomes_a_config():
    args = parse(
        "--policy",
        "meanflow",
        "--dataset",
        "d",
        "--out",
        "r",
        "--obs",
        "state,pointcloud",
        "--steps",
        "10",
        "--set",
        "horizon=4",
        "--set",
        "name=x",
    )
    config = train.config_from_args(args)
    assert config.policy == "meanflow" and config.obs == ("state", "pointcloud") and config.steps == 10
    assert config.policy_overrides == {"horizon": 4, "name": "x"}
    assert config.warmup == 1  # warm-up never exceeds a tenth of a short run


def test_a_set_item_without_a_key_and_value_is_refused():
    assert train.parse_overrides(["use_amp=true", "sampler=DDIM"]) == {"use_amp": True, "sampler": "DDIM"}
    for item in ("horizon", "=4"):
        with pytest.raises(UserError, match="KEY=VALUE"):
            train.parse_overrides([item])


def test_bad_input_exits_2(tmp_path, capsys):
    assert (
        main(["train", "--policy", "meanflow", "--dataset", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    )
    assert "not a LeRobot dataset" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    with pytest.raises(UserError, match="required"):
        train.config_from_args(parse("--out", "r"))
    with pytest.raises(UserError, match="not found"):
        train.config_from_args(parse("--out", str(tmp_path), "--resume"))


def test_resume_keeps_the_runs_thread_count_unless_told(tmp_path):
    new = parse("--policy", "meanflow", "--dataset", "d", "--out", str(tmp_path), "--threads", "1")
    config = train.config_from_args(new)
    assert config.threads == 1
    config.save(tmp_path)
    assert train.config_from_args(parse("--out", str(tmp_path), "--resume")).threads == 1
    assert train.config_from_args(parse("--out", str(tmp_path), "--resume", "--threads", "2")).threads == 2
    assert train.config_from_args(parse("--policy", "meanflow", "--dataset", "d", "--out", "r")).threads == 0
