"""What MeanFlow's JVP costs on CPU: torch.func.jvp against the U-Net's own forward-mode formulas.

Two measurements, each side by side in alternating rounds on one torch thread:
1. Per operation: a chain of 20 identical layers (an elementwise product with a constant, GroupNorm,
   Conv1d, Linear, Mish) run plainly and under torch.func.jvp; the difference per layer is the price
   forward-mode AD pays for that operation.
2. The training step's U-Net part, at make demo's size (U-Net 32-64-128, horizon 16, 10-D actions,
   condition 256): u and d/dt u, then the backward of the MeanFlow loss, with config.jvp's two methods
   ("torch_func", "unet"), and a plain forward + backward (no derivative at all) as the floor.

    .venv/bin/python benchmarks/bench_meanflow_jvp.py [--rounds 4] [--batch-sizes 32,64]
Writes benchmarks/results/meanflow_jvp_method.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from bench_env_steps import RESULTS, machine_info
from simreal.policies.unet import ConditionalUnet1D

CHAIN = 20


def per_op_us(fn, repeats: int) -> float:
    """Mean microseconds per layer of one call of `fn` (a CHAIN-layer chain)."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1e6 * (time.perf_counter() - start) / repeats / CHAIN


def layer_cases() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    x = torch.randn(32, 64, 8)
    scale = torch.randn(64, 8)
    return {
        "mul (constant)": (_Scale(scale), x),
        "GroupNorm(8, 64)": (nn.GroupNorm(8, 64), x),
        "Conv1d(64, 64, 5)": (nn.Conv1d(64, 64, 5, padding=2), x),
        "Linear(384, 384)": (nn.Linear(384, 384), torch.randn(32, 384)),
        "Mish": (nn.Mish(), x),
    }


class _Scale(nn.Module):
    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def measure_layers(rounds: int, repeats: int) -> list[dict]:
    rows = []
    for name, (layer, x) in layer_cases().items():
        chain = nn.Sequential(*[layer] * CHAIN)
        tangent = torch.randn_like(x)
        plain, jvp = [], []
        with torch.no_grad():
            for _ in range(rounds):
                plain.append(per_op_us(lambda c=chain, x=x: c(x), repeats))
                jvp.append(per_op_us(lambda c=chain, x=x, t=tangent: torch.func.jvp(c, (x,), (t,)), repeats))
        rows.append(
            {
                "layer": name,
                "input": list(x.shape),
                "plain_us": plain,
                "torch_func_jvp_us": jvp,
                "ratio_median": statistics.median(jvp) / statistics.median(plain),
            }
        )
        print(
            f"| {name} | {statistics.median(plain):.0f} | {statistics.median(jvp):.0f} | "
            f"{rows[-1]['ratio_median']:.1f}x |",
            flush=True,
        )
    return rows


def unet_step_fns(batch: int) -> dict:
    torch.manual_seed(0)
    net = ConditionalUnet1D(10, 256, (32, 64, 128), n_step_inputs=2)
    z, v = torch.randn(batch, 16, 10), torch.randn(batch, 16, 10)
    t = torch.rand(batch)
    r = t * torch.rand(batch)
    cond = torch.randn(batch, 256)
    steps = torch.stack([t, t - r], -1) * 10

    def loss(u, du_dt):
        return (u - (v - (t - r).view(-1, 1, 1) * du_dt).detach()).pow(2).mean()

    def torch_func():
        fn = lambda z_, t_, r_: net(z_, torch.stack([t_, t_ - r_], -1) * 10, cond)  # noqa: E731
        u, du_dt = torch.func.jvp(fn, (z, t, r), (v, torch.ones_like(t), torch.zeros_like(r)))
        loss(u, du_dt).backward()

    def unet():
        u, du_dt, _ = net.forward_with_tangent(z, steps, cond, v, torch.full_like(steps, 10.0))
        loss(u, du_dt).backward()

    def plain():
        (net(z, steps, cond) - v).pow(2).mean().backward()

    return {"torch_func": torch_func, "unet": unet, "plain forward + backward": plain}


def measure_unet(batch_sizes: list[int], rounds: int, repeats: int) -> list[dict]:
    rows = []
    for batch in batch_sizes:
        fns = unet_step_fns(batch)
        times = {name: [] for name in fns}
        for fn in fns.values():
            fn()
        for _ in range(rounds):
            for name, fn in fns.items():
                start = time.perf_counter()
                for _ in range(repeats):
                    fn()
                times[name].append(1e3 * (time.perf_counter() - start) / repeats)
        medians = {name: statistics.median(ms) for name, ms in times.items()}
        rows.append(
            {
                "batch": batch,
                "ms": times,
                "median_ms": medians,
                "speedup_unet_over_torch_func": medians["torch_func"] / medians["unet"],
            }
        )
        print(
            f"| {batch} | {medians['torch_func']:.0f} | {medians['unet']:.0f} | "
            f"{medians['plain forward + backward']:.0f} | {rows[-1]['speedup_unet_over_torch_func']:.2f}x |",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--batch-sizes", default="32,64", help="U-Net batch sizes (default 32,64)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "meanflow_jvp_method.json", help="JSON output path"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| layer (x20 in a chain) | plain us/layer | torch.func.jvp us/layer | ratio |\n|---|---|---|---|")
    layers = measure_layers(args.rounds, repeats=20)
    print(
        "\n| batch | torch.func.jvp + backward (ms) | U-Net tangents + backward (ms) | plain fwd + bwd (ms) "
        "| speed-up |\n|---|---|---|---|---|"
    )
    unet = measure_unet([int(b) for b in args.batch_sizes.split(",")], args.rounds, repeats=5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "meanflow_jvp_method",
        "torch": torch.__version__,
        "threads": 1,
        "machine": machine_info(),
        "layers": layers,
        "unet_step": unet,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
