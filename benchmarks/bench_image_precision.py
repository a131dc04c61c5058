"""What `use_amp` buys the image encoder on CPU: the ResNet-18 backbone in float32 against bfloat16
autocast, side by side in alternating rounds on one torch thread.

Two measurements on 96x96 camera frames (cropped to 86x86 as the policies do):
1. Inference at batch 1: one planning call's images (2 cameras x 2 observation steps = 4 frames), in
   eval mode under inference_mode, as `predict_action_chunk` runs them.
2. Training: forward + backward of a batch's images (64 samples x 2 cameras x 2 steps = 256 frames).

The two encoders hold the same weights. bfloat16 is fast only on a CPU with bfloat16 instructions
(AVX512-BF16, AMX); elsewhere autocast emulates it.

    .venv/bin/python benchmarks/bench_image_precision.py [--rounds 3] [--train-frames 256]
Writes benchmarks/results/image_precision.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bench_env_steps import RESULTS, machine_info
from simreal.policies.encoders import ImageEncoder

IMAGE_SHAPE = (3, 96, 96)


def median_ms(fn, net: ImageEncoder, repeats: int) -> float:
    """Median milliseconds of `fn(net)` over `repeats` calls after one untimed call."""
    fn(net)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(net)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def encoders() -> dict[str, ImageEncoder]:
    torch.manual_seed(0)
    full = ImageEncoder(IMAGE_SHAPE, crop_ratio=0.9, num_keypoints=32, out_dim=64)
    mixed = ImageEncoder(IMAGE_SHAPE, crop_ratio=0.9, num_keypoints=32, out_dim=64, mixed_precision=True)
    mixed.load_state_dict(full.state_dict())
    return {"float32": full, "bfloat16 autocast": mixed}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--infer-repeats", type=int, default=20, help="timed calls per round (default 20)")
    parser.add_argument("--train-repeats", type=int, default=2, help="timed steps per round (default 2)")
    parser.add_argument("--train-frames", type=int, default=256, help="frames per training step")
    parser.add_argument("--out", default=str(RESULTS / "image_precision.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    nets = encoders()
    infer_frames = torch.rand(4, *IMAGE_SHAPE)
    train_frames = torch.rand(args.train_frames, *IMAGE_SHAPE)

    def infer(net):
        net.eval()
        with torch.inference_mode():
            net(infer_frames)

    def train_step(net):
        net.train()
        net.zero_grad()
        net(train_frames).square().mean().backward()

    rounds = {name: {"inference_ms": [], "train_step_ms": []} for name in nets}
    for _ in range(args.rounds):
        for name, net in nets.items():
            rounds[name]["inference_ms"].append(median_ms(infer, net, args.infer_repeats))
            rounds[name]["train_step_ms"].append(median_ms(train_step, net, args.train_repeats))
    rows = {
        name: {k: {"rounds": v, "median": statistics.median(v)} for k, v in r.items()}
        for name, r in rounds.items()
    }
    full, mixed = rows["float32"], rows["bfloat16 autocast"]
    speedup = {k: full[k]["median"] / mixed[k]["median"] for k in full}
    result = {
        "benchmark": "image_precision",
        "inference_frames": 4,
        "train_frames": args.train_frames,
        "rows": rows,
        "speedup_bf16": speedup,
        "machine": machine_info(),
    }
    out = args.out
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print("| backbone | inference, 4 frames (ms, per round) | training step (ms, per round) |")
    print("|---|---|---|")
    for name, row in rows.items():
        cells = [", ".join(f"{t:.1f}" for t in row[k]["rounds"]) for k in ("inference_ms", "train_step_ms")]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    print(
        f"bfloat16 speed-up: inference {speedup['inference_ms']:.2f}x, "
        f"training {speedup['train_step_ms']:.2f}x"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
