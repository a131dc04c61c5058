"""Peak resident memory of an evaluation process, per checkpoint: the policy, its observation
pipeline, MuJoCo and the renderer in one process, as `simreal eval --workers 1` runs them.

Each checkpoint is evaluated for a few held-out episodes by `simreal eval` in a child process of its
own; the child's peak RSS comes from os.wait4, so one checkpoint's figure never carries another's.
The figure bounds a policy's inference process from above (the issue's target: at most 1.5 GB).

    .venv/bin/python benchmarks/bench_inference_memory.py RUN [RUN ...] --episodes 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, record_result


def eval_peak_rss(checkpoint: Path, episodes: int) -> dict:
    """Run `simreal eval` on `checkpoint` in a child process; its summary plus the child's peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        summary_path = Path(tmp) / "eval.json"
        command = [sys.executable, "-m", "simreal.cli", "eval", "--checkpoint", str(checkpoint)]
        command += ["--episodes", str(episodes), "--workers", "1", "--json", str(summary_path)]
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        exit_code = os.waitstatus_to_exitcode(status)
        if exit_code != 0:
            raise SystemExit(f"simreal eval failed on {checkpoint} (exit {exit_code})")
        summary = json.loads(summary_path.read_text())
    return {
        "peak_rss_gb": usage.ru_maxrss / 1024**2,  # ru_maxrss is in KiB on Linux
        **{k: summary[k] for k in ("policy_type", "task", "episodes", "successes", "latency_ms", "wall_s")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="run or checkpoint directories")
    parser.add_argument(
        "--episodes", type=int, default=5, help="held-out episodes per checkpoint (default 5)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "inference_memory.json", help="JSON to write")
    args = parser.parse_args()
    for checkpoint in args.checkpoints:
        if not checkpoint.is_dir():
            parser.error(f"{checkpoint} is not a directory (give a run or checkpoint directory)")
    for checkpoint in args.checkpoints:
        row = eval_peak_rss(checkpoint, args.episodes)
        name = str(checkpoint)
        record_result(args.out, "inference_memory", ("checkpoints", name), row)
        rss = row["peak_rss_gb"]
        print(f"{name}: peak RSS {rss:.2f} GB ({row['policy_type']}, {row['task']})", flush=True)


if __name__ == "__main__":
    main()
