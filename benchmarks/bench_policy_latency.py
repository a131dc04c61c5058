"""Latency per action chunk and per action at batch 1: MeanFlow 1-NFE vs DDIM-10 vs DDPM-100 vs
Streaming Diffusion Policy, same backbone (DP3 point-cloud + state encoders, the same U-Net), side by
side in one run. Weights are random: latency does not depend on training.

Each method plans a chunk of n_action_steps actions from one observation (encoders included, as
`predict_action_chunk` does in deployment); per action = per chunk / n_action_steps, since every
method executes the same n_action_steps actions per chunk. The streaming head is timed in steady
state (its buffer persists between calls; the one-time start-up after a reset is excluded).

    .venv/bin/python benchmarks/bench_policy_latency.py            # CPU, papers' U-Net widths
    .venv/bin/python benchmarks/bench_policy_latency.py --quick    # smoke run
    .venv/bin/python benchmarks/bench_policy_latency.py --device cuda

Targets: MeanFlow >= 10x faster than DDIM-10 and >= 50x faster than DDPM-100 per chunk; streaming
>= 2x faster than DDPM-100 per executed chunk. Note the ceilings: with the encoders run once per chunk
in both, MeanFlow/DDIM-10 cannot exceed 10x (10 vs 1 network calls) and SDP with one level per call
(50 vs 100 calls) cannot exceed 2x; only per-step sampler overhead lifts a ratio past its call ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from lerobot.configs import FeatureType, PolicyFeature

from simreal.policies import make_policy

RESULTS = Path(__file__).parent / "results" / "policy_latency.json"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default cpu)")
    p.add_argument(
        "--preset",
        default="paper",
        choices=["cpu", "paper", "paper_lowdim"],
        help="U-Net widths: cpu=[64,128,256], paper=[512,1024,2048], paper_lowdim=[256,512,1024]",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: batch-1 inference gains little from more, and the "
        "number is reproducible on a shared machine)",
    )
    p.add_argument("--repeats", type=int, default=20, help="timed chunks per method (default 20)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="stop timing a method after this many seconds, once it has 3 samples (default 120)",
    )
    p.add_argument("--num-points", type=int, default=512, help="points in the point cloud (default 512)")
    p.add_argument("--quick", action="store_true", help="smoke run: cpu preset, 3 repeats")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    return p.parse_args(argv)


def synthetic_features(num_points: int) -> tuple[dict, dict]:
    """DP3-style inputs (state 15 + xyz cloud) and an 8-D joint_pos action, with min-max stats."""
    features = {
        "observation.state": PolicyFeature(FeatureType.STATE, (15,)),
        "observation.pointcloud": PolicyFeature(FeatureType.STATE, (num_points, 3)),
        "action": PolicyFeature(FeatureType.ACTION, (8,)),
    }
    stats = {
        "observation.state": {"min": -np.ones(15), "max": np.ones(15)},
        "action": {"min": -np.ones(8), "max": np.ones(8)},
    }
    return features, stats


def build_methods(args) -> dict[str, torch.nn.Module]:
    """Four samplers on one backbone: horizon 20, 2 observation steps, 8 executed actions (SDP's
    defaults, which give the streaming head 2 chunks)."""
    features, stats = synthetic_features(args.num_points)
    common = {
        "preset": args.preset,
        "device": args.device,
        "horizon": 20,
        "n_obs_steps": 2,
        "n_action_steps": 8,
    }
    torch.manual_seed(0)
    diffusion = make_policy("diffusion", features, stats, **common)
    ddim = make_policy("diffusion", features, stats, **common, sampler="DDIM", num_inference_steps=10)
    ddim.load_state_dict(diffusion.state_dict())
    return {
        "meanflow_1nfe": make_policy("meanflow", features, stats, **common),
        "ddim_10": ddim,
        "ddpm_100": diffusion,
        "streaming": make_policy("streaming", features, stats, **common),
        # Two levels per network call (per-position DDIM jumps): the knob beyond SDP's one level per call.
        "streaming_25": make_policy("streaming", features, stats, **common, num_inference_calls=25),
    }


def observation(num_points: int, device: str) -> dict[str, torch.Tensor]:
    return {
        "observation.state": torch.rand(1, 15, device=device) * 2 - 1,
        "observation.pointcloud": torch.rand(1, num_points, 3, device=device) - 0.5,
    }


def time_chunks(policy, obs, repeats: int, max_seconds: float, device: str) -> tuple[list[float], int]:
    """Seconds per predict_action_chunk call (synchronized on CUDA), after one warm-up call; at most
    `repeats` calls, fewer (but at least 3) when they exceed `max_seconds` in total."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    policy.eval()
    policy.reset()
    with torch.inference_mode():
        policy.predict_action_chunk(obs)  # warm-up (and the streaming buffer's start-up)
        times = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            chunk = policy.predict_action_chunk(obs)
            sync()
            times.append(time.perf_counter() - start)
            if len(times) >= 3 and sum(times) > max_seconds:
                break
    return times, chunk.shape[1]


def network_calls(name: str, policy) -> int:
    cfg = policy.config
    if name.startswith("streaming"):
        return cfg.calls_per_plan
    return cfg.num_inference_steps


def machine(args) -> dict:
    import mujoco

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": __import__("os").cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15min": list(__import__("os").getloadavg()),
        "device": args.device,
    }
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.preset, args.repeats = "cpu", 3
    torch.set_num_threads(args.threads)
    methods = build_methods(args)
    obs = observation(args.num_points, args.device)
    rows = {}
    for name, policy in methods.items():
        times, n_actions = time_chunks(policy, obs, args.repeats, args.max_seconds, args.device)
        ms = np.array(times) * 1e3
        rows[name] = {
            "network_calls_per_chunk": network_calls(name, policy),
            "samples": len(times),
            "actions_per_chunk": n_actions,
            "chunk_ms_p50": float(np.percentile(ms, 50)),
            "chunk_ms_p99": float(np.percentile(ms, 99)),
            "action_ms_p50": float(np.percentile(ms, 50) / n_actions),
            "action_ms_p99": float(np.percentile(ms, 99) / n_actions),
        }
    p50 = {k: v["chunk_ms_p50"] for k, v in rows.items()}
    ratios = {
        "ddim_10_over_meanflow": p50["ddim_10"] / p50["meanflow_1nfe"],
        "ddpm_100_over_meanflow": p50["ddpm_100"] / p50["meanflow_1nfe"],
        "ddpm_100_over_streaming": p50["ddpm_100"] / p50["streaming"],
        "ddpm_100_over_streaming_25": p50["ddpm_100"] / p50["streaming_25"],
    }
    targets = {
        "meanflow_10x_ddim_10": ratios["ddim_10_over_meanflow"] >= 10,
        "meanflow_50x_ddpm_100": ratios["ddpm_100_over_meanflow"] >= 50,
        "streaming_2x_ddpm_100": ratios["ddpm_100_over_streaming"] >= 2,
    }
    print(f"{'method':<15}{'calls':>6}{'chunk p50 ms':>14}{'chunk p99 ms':>14}{'action p50 ms':>15}")
    for name, r in rows.items():
        print(
            f"{name:<15}{r['network_calls_per_chunk']:>6}{r['chunk_ms_p50']:>14.2f}"
            f"{r['chunk_ms_p99']:>14.2f}{r['action_ms_p50']:>15.3f}"
        )
    for key, value in ratios.items():
        print(f"{key:<28}{value:8.1f}x")
    print("targets met:", targets)
    result = {
        "benchmark": "policy_latency",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine(args),
        "methods": rows,
        "ratios_p50": ratios,
        "targets_met": targets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
