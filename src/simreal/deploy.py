"""`simreal deploy`: run a launch file's ROS 2 graph (sim robot + policy node) without ros2 launch.

The nodes, parameter files and overrides are read from launch/<name>.launch.py itself (see
simreal.real.launch_graph), so this starts exactly what `ros2 launch simreal <name>.launch.py` would:
one process per node (default) or every node in this process, each on its own thread and executor.

`closed_loop_episodes` runs seeded episodes through that graph over DDS and `simreal eval` on the same
seeds, for success over ROS beside success in simulation; checkpoints of every action space (joint_pos,
ee_pose, ee_delta: the policy node turns TCP poses into joint targets, with the task's IK settings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from simreal.errors import UserError

REPO_LAUNCH = Path(__file__).resolve().parents[2] / "launch"
MODULES = {"sim_robot_node": "simreal.real.sim_robot_node", "policy_node": "simreal.real.policy_node"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--launch", default="sim_policy", help="launch file launch/<name>.launch.py to run")
    parser.add_argument("--checkpoint", required=True, help="policy checkpoint directory (simreal train)")
    parser.add_argument("--task", default=None, help="simreal task for the sim robot (launch default)")
    parser.add_argument(
        "--observation-spec",
        default=None,
        help="YAML mapping observation features to topics (launch default)",
    )
    parser.add_argument(
        "--launch-dir", type=Path, default=REPO_LAUNCH, help="folder of launch files and config/"
    )
    parser.add_argument("--one-process", action="store_true", help="run every node in this process")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to run, 0 = until Ctrl-C")


def resolve(args) -> list[tuple[str, str, dict]]:
    """[(executable, node name, parameters)] with parameter files merged and launch arguments bound."""
    from simreal.real.launch_graph import LaunchArg, read_launch, read_node_parameters

    path = args.launch_dir / f"{args.launch}.launch.py"
    if not path.is_file():
        raise UserError(f"no launch file {path}")
    if not Path(args.checkpoint).is_dir():
        raise UserError(f"checkpoint {args.checkpoint} is not a directory")
    graph = read_launch(path)
    given = {"checkpoint": str(Path(args.checkpoint).resolve()), "task": args.task}
    given["observation_spec"] = args.observation_spec
    bound = {}
    for name, default in graph.arguments.items():
        value = given.get(name) if given.get(name) is not None else default
        if isinstance(value, tuple):  # a file in config/
            value = str(args.launch_dir / "config" / value[1])
        if value is None:
            raise UserError(f"{path.name} needs --{name.replace('_', '-')}")
        bound[name] = value
    nodes = []
    for node in graph.nodes:
        params = {}
        for file in node.param_files:
            params.update(read_node_parameters(args.launch_dir / "config" / file, node.name))
        for key, value in node.overrides.items():
            params[key] = bound[value.name] if isinstance(value, LaunchArg) else value
        nodes.append((node.executable, node.name, params))
    return nodes


def run(args) -> int:
    nodes = resolve(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.one_process:
        return _run_threads(nodes, stop, args.duration)
    return _run_processes(nodes, stop, args.duration)


def _ros_args(name: str, params: dict) -> list[str]:
    import yaml

    out = ["--ros-args", "-r", f"__node:={name}"]
    for key, value in params.items():
        out += [
            "-p",
            f"{key}:={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}",
        ]
    return out


def _run_processes(nodes, stop: threading.Event, duration: float) -> int:
    procs = {}
    for executable, name, params in nodes:
        cmd = [sys.executable, "-m", MODULES[executable], *_ros_args(name, params)]
        procs[name] = subprocess.Popen(cmd)
    try:
        failed = _watch(
            stop, duration, lambda: {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        )
    finally:
        _stop_processes(procs.values(), timeout=15.0)
    if failed:
        raise UserError(f"node(s) exited early: {failed}")
    return 0


def _stop_processes(procs, timeout: float) -> None:
    """Ctrl-C every node process still running, then kill those that outlast ``timeout`` s."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def _run_threads(nodes, stop: threading.Event, duration: float) -> int:
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from simreal.real.node_runtime import make_executor, set_thread_priority, spin
    from simreal.real.policy_node import PolicyNode
    from simreal.real.sim_robot_node import SimRobotNode

    classes = {"sim_robot_node": SimRobotNode, "policy_node": PolicyNode}
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    errors: dict[str, str] = {}
    threads = []

    def serve(executable, name, params):
        # Built on its own thread: the sim node's EGL context belongs to the thread that renders.
        node = executor = None
        try:
            overrides = [Parameter(k, value=v) for k, v in params.items()]
            node = classes[executable](parameter_overrides=overrides)
            set_thread_priority(getattr(node, "spin_priority", 0))
            executor = make_executor()
            executor.add_node(node)
            spin(executor, stop=stop)
        except Exception as exc:  # reported by the watcher, which stops the others
            errors[name] = str(exc)
        finally:
            if executor is not None:
                executor.shutdown(timeout_sec=1.0)
            if node is not None:
                node.destroy_node()

    for executable, name, params in nodes:
        thread = threading.Thread(target=serve, args=(executable, name, params), name=name, daemon=True)
        thread.start()
        threads.append(thread)
    try:
        failed = _watch(stop, duration, lambda: dict(errors))
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        rclpy.shutdown()
    if failed:
        raise UserError(f"node(s) failed: {failed}")
    return 0


def _watch(stop: threading.Event, duration: float, failures) -> dict:
    """Show a progress bar until ``duration`` s pass, ``stop`` is set or a node fails; the failures."""
    from tqdm import tqdm

    start = time.monotonic()
    with tqdm(
        total=duration or None, unit="s", desc="deploy", bar_format="{desc}: {elapsed} {postfix}"
    ) as bar:
        while not stop.is_set():
            failed = failures()
            if failed:
                stop.set()
                return failed
            elapsed = time.monotonic() - start
            if duration and elapsed >= duration:
                break
            bar.update(0.5)
            stop.wait(0.5)
    return {}


def closed_loop_episodes(
    checkpoint: str | Path,
    *,
    episodes: int = 10,
    seed_start: int = 100_000,
    control_rate: float = 100.0,
    launch: str = "sim_policy",
    launch_dir: Path = REPO_LAUNCH,
    compare_eval: bool = True,
    max_steps: int | None = None,
    domain: int | None = None,
) -> dict[str, Any]:
    """Success over ROS (sim_robot_node + policy_node processes, DDS only) beside `simreal eval`.

    Seeds are eval's held-out seeds from ``seed_start`` (demo seeds stepped over); each ROS episode
    resets the sim with its seed and runs until the task status reports success or the task's episode
    limit (``max_steps`` or the task's max_episode_steps, / fps s of simulated time). ``domain``: the
    ROS_DOMAIN_ID of the graph (default derived from the pid). Returns {"seeds", "ros": {success_rate,
    success_ci95, per_episode}, "eval": eval's summary (when ``compare_eval``), "command": receiver-side
    command rate (Hz) and period jitter p50/p99 (ms), "node": the policy node's own diagnostics}.
    Leaves no files behind (its scratch folder goes on return; an error quotes the nodes' logs).
    """
    from simreal.datasets import used_seeds
    from simreal.evaluate import evaluate, wilson_interval
    from simreal.rollout import held_out_seeds
    from simreal.sim import TASKS
    from simreal.training.checkpoint import DATASET_META, resolve_pretrained_dir

    pretrained = resolve_pretrained_dir(checkpoint)
    meta = json.loads((pretrained / DATASET_META).read_text())
    seeds = held_out_seeds(seed_start, episodes, used_seeds(meta), skip_demo_seeds=True)
    result: dict[str, Any] = {"checkpoint": str(pretrained), "seeds": seeds, "control_rate_hz": control_rate}
    if compare_eval:
        ev = evaluate(
            pretrained, episodes=episodes, seed_start=seed_start, skip_demo_seeds=True, max_steps=max_steps
        )
        result["eval"] = {k: ev[k] for k in ("success_rate", "success_ci95", "successes", "per_episode")}
    steps = max_steps or TASKS[meta["task"]].default_config().max_episode_steps
    time_limit = steps / float(meta["fps"])
    rows, command, node = _ros_episodes(
        pretrained, meta, seeds, time_limit, control_rate, launch, launch_dir, domain
    )
    successes = sum(r["success"] for r in rows)
    result["ros"] = {
        "success_rate": successes / len(rows),
        "success_ci95": list(wilson_interval(successes, len(rows))),
        "successes": successes,
        "per_episode": rows,
    }
    result.update(command=command, node=node)
    return result


def sim_observation_string(observation: dict) -> str:
    """The sim node's ObservationConfig.parse string for a dataset sidecar's observation config."""
    items = [k for k in ("state", "rgb", "depth", "pointcloud") if observation.get(k)]
    if observation.get("pointcloud_color"):
        items.append("color")
    items.append("cameras=" + "+".join(observation["cameras"]))
    items.append(f"points={observation['num_points']}")
    items.append("size={}x{}".format(*observation["image_size"]))
    return ",".join(items)


def _ik_parameters(task: str) -> dict:
    """policy_node's IK parameters from the task's config, so an ee_pose / ee_delta checkpoint's actions
    are clamped and solved over ROS as the env did (unused for joint_pos checkpoints)."""
    from simreal.sim import TASKS

    cfg = TASKS[task].default_config()
    low, high = cfg.ee_workspace
    return {
        "ee_workspace": [float(v) for v in (*low, *high)],
        "ik_home_q": [float(v) for v in cfg.home_q],
        "robot_mjcf": cfg.robot_mjcf or "",
    }


def _ros_episodes(pretrained, meta, seeds, time_limit, control_rate, launch, launch_dir, domain):
    """Run the episodes; the graph's scratch files (its observation spec, the node logs) live in a
    temporary folder removed on return. A failure carries the tail of each node's log instead."""
    with tempfile.TemporaryDirectory(prefix="simreal_closed_loop_") as scratch:
        folder = Path(scratch)
        try:
            return _run_graph(
                folder, pretrained, meta, seeds, time_limit, control_rate, launch, launch_dir, domain
            )
        except UserError as exc:  # the nodes are stopped by now: their logs are complete
            raise UserError(f"{exc}\n{_log_tails(folder)}") from exc


def _log_tails(folder: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of every node log in ``folder``, for an error message."""
    parts = []
    for log in sorted(folder.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.stem} (last {len(tail)} lines of its log) ---\n" + "\n".join(tail))
    return "\n".join(parts)


def _run_graph(folder, pretrained, meta, seeds, time_limit, control_rate, launch, launch_dir, domain):
    import rclpy
    import yaml
    from tqdm import tqdm

    from simreal.real.episode_driver import EpisodeDriver
    from simreal.real.node_runtime import make_executor, spin

    features = json.loads((pretrained / "config.json").read_text())["input_features"]
    spec = yaml.safe_load((launch_dir / "config" / "pick_place_observations.yaml").read_text())
    spec["features"] = {k: v for k, v in spec["features"].items() if k in features}
    (folder / "obs.yaml").write_text(yaml.safe_dump(spec))
    args = argparse.Namespace(
        launch=launch,
        launch_dir=launch_dir,
        checkpoint=str(pretrained),
        task=meta["task"],
        observation_spec=str(folder / "obs.yaml"),
    )
    nodes = []
    for executable, name, params in resolve(args):
        if executable == "sim_robot_node":
            params.update(
                observation=sim_observation_string(meta["observation"]),
                camera_rate=float(meta["fps"]),  # a fresh observation for every policy step, as in eval
                seed=int(seeds[0]),
            )
        else:
            params.update(control_rate=float(control_rate), autostart=False, **_ik_parameters(meta["task"]))
        nodes.append((executable, name, params))
    domain = domain if domain is not None else 1 + os.getpid() % 100
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    halt = threading.Event()
    # Torn down in reverse order whatever fails: no node process outlives the call.
    with contextlib.ExitStack() as teardown:
        teardown.callback(rclpy.shutdown, context=context)
        driver = EpisodeDriver(context=context)
        teardown.callback(driver.destroy_node)
        executor = make_executor(context)
        teardown.callback(executor.shutdown, timeout_sec=1.0)
        executor.add_node(driver)
        spinner = threading.Thread(target=spin, args=(executor, context, halt, 0.05), daemon=True)
        spinner.start()
        teardown.callback(spinner.join, 5)
        teardown.callback(halt.set)
        procs: list[subprocess.Popen] = []
        teardown.callback(_stop_processes, procs, timeout=20.0)
        for exe, name, params in nodes:
            with open(folder / f"{name}.log", "w") as log:  # the child keeps its own descriptor
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", MODULES[exe], *_ros_args(name, params)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        driver.wait_ready(timeout=120.0)
        rows = []
        with tqdm(seeds, desc="ROS closed loop", unit="episode") as bar:
            for seed in bar:
                rows.append(driver.run_episode(seed, time_limit))
                bar.set_postfix(success=f"{sum(r['success'] for r in rows)}/{len(rows)}")
        time.sleep(1.2)  # one more /diagnostics message with the last episode in it
        with driver.lock:
            node = dict(driver.diagnostics)
        return rows, driver.command_stats(control_rate), node
