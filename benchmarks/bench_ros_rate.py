"""Command rate, jitter and latency of policy_node driving sim_robot_node over DDS, inference running.

    .venv/bin/python benchmarks/bench_ros_rate.py --checkpoint RUN/checkpoints/last [--quick] [--soak 600]

For each control rate (100, 250, 500 Hz) it starts sim_robot_node and policy_node as separate processes
(the deployment's layout, parameter files from launch/config/) and records every command this process
receives: achieved rate and period jitter at the receiver, beside the node's own numbers from
/diagnostics (tick rate and jitter, inference latency, observation-to-command latency). At 100 Hz it
also measures the watchdog reaction (the sim robot frozen with SIGSTOP: time until commands stop
changing) and the e-stop reaction (time from publishing /estop to the last command). --soak N floods
/ee_pose at 10x the control rate for N seconds and reports the policy node's RSS growth (node + its
inference process) and its latency percentiles sampled every 30 s.
Writes benchmarks/results/ros_rate.json (or ros_rate_quick.json, or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "launch" / "config"


def machine() -> dict:
    import mujoco
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
    }


def write_params(folder: Path, checkpoint: Path, rate: float) -> tuple[Path, Path]:
    """Parameter files from launch/config with this run's checkpoint, spec and rate."""
    from simreal.policies import load_policy

    features = load_policy(checkpoint, device="cpu").input_features
    spec = yaml.safe_load((CONFIG / "pick_place_observations.yaml").read_text())
    spec["features"] = {k: v for k, v in spec["features"].items() if k in features}
    (folder / "obs.yaml").write_text(yaml.safe_dump(spec))
    sim = yaml.safe_load((CONFIG / "sim_robot.yaml").read_text())
    from simreal.deploy import sim_observation_string

    meta = json.loads((Path(checkpoint) / "simreal_dataset.json").read_text())
    sim["sim_robot_node"]["ros__parameters"]["observation"] = sim_observation_string(meta["observation"])
    policy = yaml.safe_load((CONFIG / "sim_policy.yaml").read_text())
    policy["policy_node"]["ros__parameters"].update(
        checkpoint=str(checkpoint), observation_spec=str(folder / "obs.yaml"), control_rate=float(rate)
    )
    (folder / "sim.yaml").write_text(yaml.safe_dump(sim))
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy))
    return folder / "sim.yaml", folder / "policy.yaml"


class Probe:
    """This process's view: command receive times and values, the latest /diagnostics values."""

    def __init__(self, context):
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.node import Node
        from std_msgs.msg import Bool, Float64MultiArray

        self.node = Node("bench_probe", context=context)
        self.lock = threading.Lock()
        self.times, self.values, self.diag = [], [], {}
        self.node.create_subscription(
            Float64MultiArray, "/forward_position_controller/commands", self._on_command, 100
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.estop = self.node.create_publisher(Bool, "/estop", 10)

    def _on_command(self, msg):
        now = time.perf_counter()
        with self.lock:
            self.times.append(now)
            self.values.append(np.frombuffer(msg.data, dtype=np.float64).copy())

    def _on_diag(self, msg):
        values = {
            kv.key: float(kv.value) for s in msg.status if s.name == "simreal/policy_node" for kv in s.values
        }
        with self.lock:
            self.diag = values

    def window(self, since: float):
        with self.lock:
            idx = [i for i, t in enumerate(self.times) if t >= since]
            return np.array([self.times[i] for i in idx]), [self.values[i] for i in idx]


def start(module: str, params: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module, "--ros-args", "--params-file", str(params)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


# /diagnostics fields sampled over a soak: they must not drift.
SOAK_LATENCIES = (
    "inference_latency_p50_ms",
    "inference_latency_p99_ms",
    "obs_to_command_p50_ms",
    "obs_to_command_p99_ms",
    "period_jitter_p99_ms",
    "control_rate_hz",
)


def run_rate(
    rate: float, seconds: float, checkpoint: Path, domain: int, reactions: bool, soak: float
) -> dict:
    import rclpy

    from simreal.real.node_runtime import make_executor, spin

    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    folder = Path(tempfile.mkdtemp(prefix="bench_ros_"))
    sim_params, policy_params = write_params(folder, checkpoint, rate)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    probe = Probe(context)
    executor = make_executor(context)
    executor.add_node(probe.node)
    halt = threading.Event()
    spinner = threading.Thread(target=spin, args=(executor, context, halt, 0.05), daemon=True)
    spinner.start()
    sim = start("simreal.real.sim_robot_node", sim_params, env)
    policy = start("simreal.real.policy_node", policy_params, env)
    result = {"rate_hz": rate}
    try:
        deadline = time.monotonic() + 120
        while len(probe.window(0.0)[0]) < 2 * rate and time.monotonic() < deadline:
            time.sleep(0.2)
        if len(probe.window(0.0)[0]) < 2 * rate:
            raise RuntimeError(f"no command stream at {rate} Hz within 120 s")
        time.sleep(1.0)  # let the first replans settle
        t0 = time.perf_counter()
        time.sleep(seconds)
        times, _ = probe.window(t0)
        periods = np.diff(times)
        diag = dict(probe.diag)
        result.update(
            achieved_hz=float(len(times) / (times[-1] - t0)),
            receiver_jitter_p50_ms=float(np.percentile(np.abs(periods - 1 / rate), 50) * 1e3),
            receiver_jitter_p99_ms=float(np.percentile(np.abs(periods - 1 / rate), 99) * 1e3),
            receiver_period_max_ms=float(periods.max() * 1e3),
            node_tick_hz=diag.get("control_rate_hz"),
            node_jitter_p50_ms=diag.get("period_jitter_p50_ms"),
            node_jitter_p99_ms=diag.get("period_jitter_p99_ms"),
            node_skipped_ticks=diag.get("skipped_ticks"),
            node_realtime=diag.get("realtime"),
            inference_p50_ms=diag.get("inference_latency_p50_ms"),
            inference_p99_ms=diag.get("inference_latency_p99_ms"),
            obs_to_command_p50_ms=diag.get("obs_to_command_p50_ms"),
            obs_to_command_p99_ms=diag.get("obs_to_command_p99_ms"),
            inferences=diag.get("inferences"),
            dropped_actions=diag.get("dropped_actions"),
            clamped_step=diag.get("safety_clamped_step", 0.0),
        )
        if soak:
            result.update(soak_flood(soak, rate, policy.pid, env, probe))
        if reactions:
            result.update(watchdog_reaction(probe, sim, rate))
            sim.send_signal(signal.SIGCONT)
            time.sleep(2.0)  # fresh data, a new plan: the arm moves again when the e-stop is pressed
            from std_msgs.msg import Bool

            pressed = time.perf_counter()
            probe.estop.publish(Bool(data=True))
            time.sleep(0.5)
            times, _ = probe.window(pressed)
            result["estop_reaction_ms"] = float(((times[-1] if len(times) else pressed) - pressed) * 1e3)
            result["commands_after_estop"] = int(len(times))
    finally:
        stop(policy)
        stop(sim)
        halt.set()
        spinner.join(5)
        executor.shutdown(timeout_sec=1)
        probe.node.destroy_node()
        rclpy.shutdown(context=context)
    return result


def watchdog_reaction(probe: Probe, sim: subprocess.Popen, rate: float, max_age: float = 0.3) -> dict:
    """Freeze the sim robot (SIGSTOP: joint states and clouds stop) while the policy moves the arm;
    the reaction is the time from the freeze to the last command that still differed from the one
    before it (the node must hold within max_age + one period). ``moving_before_freeze`` says whether
    the commands were changing in the 0.5 s before, i.e. whether a hold is detectable at all."""
    before = time.perf_counter()
    deadline = before + 30.0
    while time.perf_counter() < deadline:  # wait for motion, so the transition to holding is visible
        time.sleep(0.5)
        _, values = probe.window(time.perf_counter() - 0.5)
        if len(values) > 2 and np.abs(np.diff(np.stack(values), axis=0)).max() > 1e-6:
            break
    frozen = time.perf_counter()
    sim.send_signal(signal.SIGSTOP)
    time.sleep(max_age + 1.0)
    times, values = probe.window(frozen - 0.5)
    steps = np.abs(np.diff(np.stack(values), axis=0)).max(axis=1)
    after = times[1:] >= frozen
    moving_before = bool((steps[~after] > 1e-6).any())
    changes = times[1:][after & (steps > 0)]
    return {
        "moving_before_freeze": moving_before,
        "watchdog_reaction_ms": float(((changes[-1] if len(changes) else frozen) - frozen) * 1e3),
        "commands_after_freeze": int(after.sum()),
        "max_age_ms": max_age * 1e3,
        "watchdog_bound_ms": (max_age + 1.0 / rate) * 1e3,
    }


def soak_flood(seconds: float, rate: float, pid: int, env: dict, probe: Probe, every: float = 30.0) -> dict:
    """Floods /ee_pose at 10x the control rate for ``seconds`` while the closed loop runs; every ``every``
    s it samples the policy node's resident memory (the node and its inference process together) and
    its latency percentiles from /diagnostics. Growth compares the last sample with the first."""
    import psutil

    node = psutil.Process(pid)

    def sample(t0: float) -> dict:
        children = node.children(recursive=True)  # the inference process
        diag = dict(probe.diag)
        return {
            "t_s": round(time.perf_counter() - t0, 1),
            "rss_mb": sum(p.memory_info().rss for p in (node, *children)) / 1e6,
            "inference_process_rss_mb": sum(p.memory_info().rss for p in children) / 1e6,
            **{k: diag.get(k) for k in SOAK_LATENCIES},
        }

    t0 = time.perf_counter()
    series = [sample(t0)]
    flood = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests/real/flood_publisher.py"),
            "--rate",
            str(10 * rate),
            "--duration",
            str(seconds),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    while (remaining := seconds + t0 - time.perf_counter()) > 0 and flood.poll() is None:
        time.sleep(min(every, remaining))
        series.append(sample(t0))
    out = flood.communicate(timeout=60)[0]
    first, last = series[0], series[-1]
    return {
        "soak_s": seconds,
        "soak_flood": out.strip(),
        "rss_growth_pct": 100.0 * (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"],
        "soak_first": first,
        "soak_last": last,
        "soak_series": series,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="policy checkpoint directory")
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[100.0, 250.0, 500.0], help="control rates, Hz"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per rate")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of 10x flood at the first rate")
    parser.add_argument("--quick", action="store_true", help="100 Hz only, 4 s window (smoke run)")
    parser.add_argument("--domain", type=int, default=42, help="ROS_DOMAIN_ID to use")
    parser.add_argument("--out", type=Path, help="result JSON (default results/ros_rate[_quick].json)")
    args = parser.parse_args()
    from simreal.training.checkpoint import resolve_pretrained_dir

    args.checkpoint = resolve_pretrained_dir(args.checkpoint)
    if args.quick:
        args.rates, args.seconds = [100.0], 4.0
    rows = []
    for i, rate in enumerate(args.rates):
        rows.append(
            run_rate(rate, args.seconds, args.checkpoint, args.domain, i == 0, args.soak if i == 0 else 0)
        )
        print(json.dumps(rows[-1]), flush=True)
    keys = [
        "rate_hz",
        "achieved_hz",
        "receiver_jitter_p99_ms",
        "node_tick_hz",
        "node_jitter_p50_ms",
        "node_jitter_p99_ms",
        "inference_p50_ms",
        "inference_p99_ms",
        "obs_to_command_p50_ms",
        "obs_to_command_p99_ms",
    ]
    print(" | ".join(f"{k:>12}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row.get(k) if row.get(k) is not None else float('nan'):12.2f}" for k in keys))
    for row in rows:
        for k in (
            "moving_before_freeze",
            "watchdog_reaction_ms",
            "estop_reaction_ms",
            "commands_after_estop",
            "rss_growth_pct",
        ):
            if k in row:
                print(f"{row['rate_hz']:.0f} Hz {k}: {row[k]:.2f}")
    out = args.out or ROOT / "benchmarks" / "results" / (
        "ros_rate_quick.json" if args.quick else "ros_rate.json"
    )
    out.write_text(
        json.dumps({"machine": machine(), "checkpoint": str(args.checkpoint), "results": rows}, indent=2)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
