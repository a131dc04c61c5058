"""`simreal tasks`: lists every registered task with its spaces."""

from __future__ import annotations

import json

from simreal.cli import main
from simreal.sim import TASKS


def test_tasks_json_lists_every_task(capsys):
    assert main(["tasks", "--json", "--obs", "state,pointcloud,points=256"]) == 0
    catalog = json.loads(capsys.readouterr().out)
    assert {entry["name"] for entry in catalog} == set(TASKS)
    for entry in catalog:
        assert entry["observation"]["observation.pointcloud"]["shape"] == [256, 3]
        assert entry["action"]["joint_pos"]["shape"] == [8] and entry["action"]["ee_delta"]["shape"] == [7]
        assert entry["description"] and entry["gym_id"].startswith("simreal/")


def test_tasks_table_and_bad_obs(capsys):
    assert main(["tasks"]) == 0
    assert "pick_place" in capsys.readouterr().out
    assert main(["tasks", "--obs", "state,sonar"]) == 2
    assert "bad observation item" in capsys.readouterr().err
