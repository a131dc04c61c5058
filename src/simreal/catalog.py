"""`simreal tasks`: the registered tasks with their observation and action spaces."""

from __future__ import annotations

import argparse
import json

from simreal.sim import CONTROLLERS, GYM_IDS, TASKS, ObservationConfig, make_env


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the catalog as JSON instead of a table")
    parser.add_argument(
        "--obs",
        default="state,rgb,pointcloud",
        help="observation config whose features are listed, as for `simreal collect --obs` "
        "(comma-separated: state, env_state, rgb, depth, pointcloud, color, cameras=a+b, points=N, "
        "size=HxW); "
        "default: %(default)s",
    )


def describe_tasks(obs: ObservationConfig) -> list[dict]:
    """One JSON-ready dict per registered task: name, gym id, description, LeRobot task string, fps,
    max steps, observation features and the action space of each controller."""
    catalog = []
    for name in sorted(TASKS):
        envs = {controller: make_env(name, obs=obs, controller=controller) for controller in CONTROLLERS}
        env = envs["joint_pos"]
        features = {k: {**v, "shape": list(v["shape"])} for k, v in env.features.items() if k != "action"}
        catalog.append(
            {
                "name": name,
                "gym_id": GYM_IDS[name],
                "description": TASKS[name].description,
                "task": env.task_description,
                "fps": env.fps,
                "max_episode_steps": env.max_episode_steps,
                "observation": features,
                "action": {
                    controller: {
                        "shape": list(e.action_space.shape),
                        "names": list(e.action_names),
                        "low": [round(float(v), 4) for v in e.action_space.low],
                        "high": [round(float(v), 4) for v in e.action_space.high],
                    }
                    for controller, e in envs.items()
                },
            }
        )
        for e in envs.values():
            e.close()
    return catalog


def run(args: argparse.Namespace) -> int:
    catalog = describe_tasks(ObservationConfig.parse(args.obs))
    if args.json:
        print(json.dumps(catalog, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"simreal tasks (observations: {args.obs})", show_lines=True)
    for column in ("task", "description", "observation", "action"):
        table.add_column(column)
    for entry in catalog:
        obs = "\n".join(f"{k}: {v['dtype']} {tuple(v['shape'])}" for k, v in entry["observation"].items())
        action = "\n".join(
            f"{c}: float32 {tuple(a['shape'])} {', '.join(a['names'])}" for c, a in entry["action"].items()
        )
        table.add_row(
            f"{entry['name']}\n{entry['gym_id']}",
            f"{entry['description']}\n{entry['fps']} Hz, {entry['max_episode_steps']} steps max",
            obs,
            action,
        )
    Console().print(table)
    return 0
