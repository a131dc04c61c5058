"""Closed-loop success over ROS 2 (sim_robot_node + policy_node, DDS) beside `simreal eval`, same seeds.

    .venv/bin/python benchmarks/bench_ros_closed_loop.py --checkpoint RUN [--episodes 20] [--quick]

Runs simreal.deploy.closed_loop_episodes: `simreal eval` on N held-out seeds, then the same N seeds
through the ROS graph (the sim reset over its service with each seed, the episode run until the task
status reports success or the task's time limit). Writes both success rates with 95% Wilson intervals,
the command rate and period jitter seen by a subscriber, and the policy node's own diagnostics
(tick rate and jitter, inference and observation-to-command latency) to
benchmarks/results/ros_closed_loop.json (ros_closed_loop_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="run, checkpoint or pretrained_model dir"
    )
    parser.add_argument("--episodes", type=int, default=20, help="episodes (seeds) for each side")
    parser.add_argument("--seed-start", type=int, default=100_000, help="first held-out seed")
    parser.add_argument("--control-rate", type=float, default=100.0, help="policy_node command rate, Hz")
    parser.add_argument("--quick", action="store_true", help="3 episodes (smoke run)")
    args = parser.parse_args()
    from simreal.deploy import closed_loop_episodes
    from simreal.evaluate import machine_description

    episodes = 3 if args.quick else args.episodes
    result = closed_loop_episodes(
        args.checkpoint, episodes=episodes, seed_start=args.seed_start, control_rate=args.control_rate
    )
    ros, ev, cmd, node = result["ros"], result["eval"], result["command"], result["node"]
    print(f"checkpoint {result['checkpoint']}, seeds {result['seeds'][0]}..{result['seeds'][-1]}")
    print(f"{'':>8} | {'success':>8} | {'95% CI':>14}")
    for name, side in (("ROS", ros), ("eval", ev)):
        low, high = side["success_ci95"]
        print(f"{name:>8} | {side['success_rate']:8.2f} | [{low:.2f}, {high:.2f}]")
    print(
        f"commands at the receiver: {cmd['command_rate_hz']:.1f} Hz (target {args.control_rate:g}),"
        f" jitter p50 {cmd['jitter_p50_ms']:.2f} ms p99 {cmd['jitter_p99_ms']:.2f} ms"
    )
    print(
        "policy node: tick {:.1f} Hz, jitter p99 {:.2f} ms, inference p50 {:.1f} ms p99 {:.1f} ms,"
        " obs->command p50 {:.1f} ms p99 {:.1f} ms".format(
            *(
                node.get(k, float("nan"))
                for k in (
                    "control_rate_hz",
                    "period_jitter_p99_ms",
                    "inference_latency_p50_ms",
                    "inference_latency_p99_ms",
                    "obs_to_command_p50_ms",
                    "obs_to_command_p99_ms",
                )
            )
        )
    )
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / ("ros_closed_loop_quick.json" if args.quick else "ros_closed_loop.json")
    )
    out.write_text(
        json.dumps({"machine": machine_description(), "load_average": os.getloadavg(), **result}, indent=2)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
