"""Reads a launch/*.launch.py file (with ast, never importing launch/launch_ros, which are not on PyPI)
into the nodes it starts, so `simreal deploy` runs exactly what `ros2 launch` would, and tests can
check every executable and parameter a launch file names.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from simreal.errors import UserError


@dataclass(frozen=True)
class LaunchArg:
    """A reference to a launch argument (LaunchConfiguration("name"))."""

    name: str


@dataclass
class NodeLaunch:
    """One launch_ros Node: executable, node name, parameter files (names in config/) and overrides."""

    executable: str
    name: str
    param_files: list[str] = field(default_factory=list)
    overrides: dict[str, object] = field(default_factory=dict)  # value or LaunchArg


@dataclass
class LaunchGraph:
    nodes: list[NodeLaunch]
    arguments: dict[str, object]  # name -> default (str, a config file name as LaunchArg-free str, or None)


def _value(node: ast.AST):
    """A literal, a LaunchArg, or ("config", file) for PathJoinSubstitution([config, "file"])."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "LaunchConfiguration":
            return LaunchArg(node.args[0].value)
        if node.func.id == "PathJoinSubstitution":
            parts = node.args[0].elts
            return ("config", parts[-1].value)
    raise UserError(f"unsupported launch expression at line {node.lineno}: {ast.unparse(node)}")


def read_launch(path: str | Path) -> LaunchGraph:
    """The nodes and arguments of a launch file written in the style of launch/sim_policy.launch.py."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    nodes, arguments = [], {}
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
        kw = {k.arg: k.value for k in call.keywords}
        if call.func.id == "DeclareLaunchArgument":
            arguments[call.args[0].value] = _value(kw["default_value"]) if "default_value" in kw else None
        elif call.func.id == "Node":
            launch = NodeLaunch(_value(kw["executable"]), _value(kw["name"]))
            for item in kw["parameters"].elts:
                if isinstance(item, ast.Dict):
                    launch.overrides.update(
                        {_value(k): _value(v) for k, v in zip(item.keys, item.values, strict=True)}
                    )
                else:
                    launch.param_files.append(_value(item)[1])
            nodes.append(launch)
    return LaunchGraph(nodes, arguments)


def read_node_parameters(param_file: str | Path, node_name: str) -> dict:
    """The ``<node_name>: ros__parameters:`` mapping of a ROS 2 parameter file."""
    data = yaml.safe_load(Path(param_file).read_text()) or {}
    if node_name not in data or "ros__parameters" not in (data[node_name] or {}):
        raise UserError(f"{param_file} has no '{node_name}: ros__parameters:' section")
    return dict(data[node_name]["ros__parameters"])
