"""Diffusion Policy head: DDPM training, DDPM or DDIM sampling with diffusers' schedulers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler
from torch import Tensor

from simreal.errors import UserError
from simreal.policies.configuration_diffusion import SimrealDiffusionConfig
from simreal.policies.policy_base import SimrealPolicy, masked_mean


def _scheduler_kwargs(config: SimrealDiffusionConfig) -> dict:
    return {
        "num_train_timesteps": config.num_train_timesteps,
        "beta_schedule": config.beta_schedule,
        "clip_sample": config.clip_sample,
        "clip_sample_range": config.clip_sample_range,
        "prediction_type": config.prediction_type,
    }


class SimrealDiffusionPolicy(SimrealPolicy):
    """LeRobot policy "simreal_diffusion"."""

    config_class = SimrealDiffusionConfig
    name = "simreal_diffusion"

    def __init__(self, config: SimrealDiffusionConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.train_scheduler = DDPMScheduler(**_scheduler_kwargs(config))
        self.set_sampler(config.sampler, config.num_inference_steps)

    def set_sampler(self, sampler: str, num_inference_steps: int | None = None) -> None:
        """Switch inference to "DDPM" or "DDIM" with k steps (None = num_train_timesteps); the weights
        are unchanged, so one trained network can be compared across samplers."""
        if sampler not in ("DDPM", "DDIM"):
            raise UserError(f"sampler must be 'DDPM' or 'DDIM', got '{sampler}'")
        steps = num_inference_steps or self.config.num_train_timesteps
        if not 1 <= steps <= self.config.num_train_timesteps:
            raise UserError(
                f"num_inference_steps must be in [1, {self.config.num_train_timesteps}], got {steps}"
            )
        self.config.sampler, self.config.num_inference_steps = sampler, steps
        cls = DDPMScheduler if sampler == "DDPM" else DDIMScheduler
        self.sample_scheduler = cls(**_scheduler_kwargs(self.config))
        self.sample_scheduler.set_timesteps(steps)

    def compute_loss(
        self, global_cond: Tensor, actions: Tensor, valid: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        noise = torch.randn_like(actions)
        steps = torch.randint(0, self.config.num_train_timesteps, (actions.shape[0],), device=actions.device)
        noisy = self.train_scheduler.add_noise(actions, noise, steps)
        prediction = self.unet(noisy, steps, global_cond)
        target = noise if self.config.prediction_type == "epsilon" else actions
        per_sample = masked_mean(F.mse_loss(prediction, target, reduction="none"), valid)
        return per_sample, {"mse": per_sample.mean().item()}

    def sample_trajectory(self, global_cond: Tensor, noise: Tensor | None = None) -> Tensor:
        x = self.noise_like(global_cond, noise)
        batch = x.shape[0]
        for t in self.sample_scheduler.timesteps:
            step = torch.full((batch,), int(t), device=x.device, dtype=torch.long)
            x = self.sample_scheduler.step(self.unet(x, step, global_cond), t, x).prev_sample
        return x
