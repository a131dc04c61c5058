"""Static checks of the Meta-World benchmark (runs in the main venv, without metaworld installed):
the scripts parse, the setup script is valid bash, and the requirements pin Meta-World's versions."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "metaworld"


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (BENCH / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, spec = re.match(r"([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)\s*(.*)", line).groups()
            pins[name.lower()] = spec
    return pins


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_scripts_parse(script):
    ast.parse((BENCH / script).read_text(), filename=script)


def test_expected_scripts_present():
    names = {p.name for p in BENCH.glob("*")}
    assert {"bench_metaworld.py", "pointcloud.py", "mw_env.py", "demos.py", "setup.sh"} <= names


def test_requirements_pin_metaworld_and_its_mujoco():
    pins = _requirements()
    assert pins["metaworld"] == "==3.1.1"
    assert pins["mujoco"] == "==3.3.0"
    assert pins["lerobot[dataset]"] == "==0.6.1"


def test_benchmark_never_imports_simreal_sim():
    # simreal.sim needs mujoco >= 4; the Meta-World venv has 3.3.0.
    for path in BENCH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "simreal.sim" or n.startswith("simreal.sim.") for n in names), path.name


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_setup_script_is_valid_bash_and_installs_simreal_without_deps():
    subprocess.run(["bash", "-n", str(BENCH / "setup.sh")], check=True)
    text = (BENCH / "setup.sh").read_text()
    assert "--no-deps -e ." in text
    assert "requirements.txt" in text
