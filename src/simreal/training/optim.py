"""Optimiser, learning-rate schedule and EMA of the weights (Diffusion Policy's recipe)."""

from __future__ import annotations

import torch
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel

from simreal.training.config import TrainConfig


def make_optimizer(policy: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters (lr, betas and weight decay from `config`), fused into one
    kernel on CPU and CUDA: 3-4 ms per step for make demo's 169 tensors on CPU, against 15 ms op by op."""
    params = [p for p in policy.parameters() if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(
        params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay, fused=fused
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `config.warmup` steps, then cosine decay to zero at `config.steps`."""
    return get_scheduler(
        "cosine", optimizer=optimizer, num_warmup_steps=config.warmup, num_training_steps=config.steps
    )


def make_ema(policy: torch.nn.Module, config: TrainConfig) -> EMAModel:
    """EMA with warm-up: decay = min(1 - (1 + step)^-power, max_decay), as in Diffusion Policy."""
    return EMAModel(
        [p for p in policy.parameters() if p.requires_grad],
        decay=config.ema_max_decay,
        use_ema_warmup=True,
        inv_gamma=1.0,
        power=config.ema_power,
        foreach=True,
    )
