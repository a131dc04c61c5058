"""Static checks of the ROS packaging: every launch file's executables, parameter files and parameters
exist and are declared by the nodes; package.xml / setup.cfg / resource marker fit colcon's
ament_python; the console scripts are declared. launch/launch_ros are never imported (not on PyPI)."""

import configparser
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from rclpy.parameter import Parameter

from simreal.real import EXECUTABLES
from simreal.real.launch_graph import LaunchArg, read_launch, read_node_parameters
from simreal.real.observation_spec import ObservationSpec
from simreal.real.policy_node import PARAMETERS as POLICY_PARAMETERS
from simreal.real.sim_robot_node import PARAMETERS as SIM_PARAMETERS
from simreal.sim.base import TaskConfig

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
DECLARED = {"policy_node": POLICY_PARAMETERS, "sim_robot_node": SIM_PARAMETERS}
ROS_TYPES = {  # what a parameter file may hold for a declared default of this Python type
    bool: (bool,),
    int: (int,),
    float: (float,),
    str: (str,),
    list: (list,),
}


def test_there_are_launch_files():
    assert {p.name for p in LAUNCH_FILES} >= {"sim_policy.launch.py", "arm_policy.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_only_real_executables_and_parameters(path):
    graph = read_launch(path)
    assert graph.nodes
    for node in graph.nodes:
        assert node.executable in EXECUTABLES, node.executable
        module, function = EXECUTABLES[node.executable].split(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function))
        declared = DECLARED[node.executable]
        for file in node.param_files:
            params = read_node_parameters(ROOT / "launch" / "config" / file, node.name)
            for key, value in params.items():
                assert key in declared, f"{file}: {node.name} declares no parameter '{key}'"
                default = declared[key][0]
                if isinstance(default, Parameter.Type):
                    continue
                assert isinstance(value, ROS_TYPES[type(default)]), f"{file}: {key}={value!r} vs {default!r}"
                if isinstance(default, list) and default:
                    assert all(isinstance(v, type(default[0])) for v in value), f"{file}: {key} element types"
        for key, value in node.overrides.items():
            assert key in declared, f"{path.name}: {node.name} declares no parameter '{key}'"
            if isinstance(value, LaunchArg):
                assert value.name in graph.arguments, f"{path.name}: undeclared launch argument {value.name}"
    for default in graph.arguments.values():
        if isinstance(default, tuple):
            ObservationSpec.from_yaml(ROOT / "launch" / "config" / default[1])


def test_observation_spec_matches_the_sim_robot_topics():
    spec = ObservationSpec.from_yaml(ROOT / "launch/config/pick_place_observations.yaml")
    sim = read_node_parameters(ROOT / "launch/config/sim_robot.yaml", "sim_robot_node")
    cameras = [
        item.split("=")[1].split("+") for item in sim["observation"].split(",") if item.startswith("cameras=")
    ]
    topics = {"/joint_states", "/ee_pose", f"{sim['camera_namespace']}/points"}
    topics |= {f"{sim['camera_namespace']}/{cam}/image_raw" for cam in cameras[0]}
    assert {src.topic for _, _, src in spec.sources()} <= topics
    assert spec.features["observation.state"][0].width + 7 == 15  # joints + gripper, then pose


def test_ament_python_package_layout():
    xml = ET.parse(ROOT / "package.xml").getroot()
    assert xml.findtext("name") == "simreal"
    assert xml.find("export/build_type").text == "ament_python"
    assert (ROOT / "resource" / "simreal").is_file()
    assert (ROOT / "setup.py").is_file()  # colcon's ament_python build type requires one
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/simreal"  # where `ros2 run simreal X` looks
    assert cfg["install"]["install_scripts"] == "$base/lib/simreal"
    data = {k: v.split() for k, v in cfg["options.data_files"].items()}
    installed = {f.strip(",") for files in data.values() for f in files}
    assert "resource/simreal" in installed and "package.xml" in installed
    shipped = {str(p.relative_to(ROOT)) for p in LAUNCH_FILES}
    shipped |= {str(p.relative_to(ROOT)) for p in (ROOT / "launch" / "config").glob("*.yaml")}
    assert shipped <= installed, f"not installed by setup.cfg: {sorted(shipped - installed)}"
    for path in (ROOT / "launch" / "config").glob("*.yaml"):
        yaml.safe_load(path.read_text())


def test_console_scripts_are_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {})
    missing = {name: target for name, target in EXECUTABLES.items() if scripts.get(name) != target}
    lines = "\n".join(f'{name} = "{target}"' for name, target in missing.items())
    assert not missing, f"add to [project.scripts] in pyproject.toml:\n{lines}"


@pytest.mark.parametrize("name", ["sim_policy.yaml", "arm_policy.yaml"])
def test_policy_configs_execute_chunks_as_the_policy_was_trained(name):
    """Each chunk runs all its actions (re-planning earlier left a policy that releases at a chunk's last
    action never releasing over ROS), and the gripper command may open or close fully within one period
    of the tasks' policy rate, as the env applies it (a 4/s ramp held every release past the next
    observation)."""
    params = read_node_parameters(ROOT / "launch" / "config" / name, "policy_node")
    assert params["replan_horizon"] == 0.0
    gripper_rate = params["max_velocity"][-1]  # 1/s of the [0, 1] gripper command
    assert gripper_rate / TaskConfig().fps >= 1.0
