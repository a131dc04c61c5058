"""Streaming Diffusion Policy head (Hoeg et al.): per-position noise levels in training, and a
rolling buffer of partially denoised actions at inference that persists between planning calls."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from torch import Tensor

from simreal.policies.configuration_common import SimrealPolicyConfig
from simreal.policies.configuration_streaming import SimrealStreamingConfig
from simreal.policies.policy_base import SimrealPolicy, masked_mean
from simreal.policies.streaming_schedule import (
    StreamingSchedule,
    add_noise_per_position,
    denoise_step_per_position,
)


class SimrealStreamingPolicy(SimrealPolicy):
    """LeRobot policy "simreal_streaming".

    `plan_actions` (called by select_action whenever the n_action_steps queue is empty) denoises
    the buffer by one chunk's worth of levels, returns the clean first chunk, then shifts the buffer
    by n_action_steps and appends fresh noise. `reset()` drops the buffer.
    """

    config_class = SimrealStreamingConfig
    name = "simreal_streaming"

    def __init__(self, config: SimrealStreamingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.schedule = StreamingSchedule(
            config.horizon, config.n_obs_steps, config.n_action_steps, config.num_train_timesteps
        )
        scheduler = DDPMScheduler(
            num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule
        )
        self.register_buffer("alphas_cumprod", scheduler.alphas_cumprod.clone(), persistent=False)
        self.buffer: Tensor | None = None

    @staticmethod
    def n_step_inputs(config: SimrealPolicyConfig) -> int:
        return config.horizon  # one noise level per position, flattened into one FiLM vector

    def reset(self) -> None:
        super().reset()
        self.buffer = None

    def compute_loss(
        self, global_cond: Tensor, actions: Tensor, valid: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        levels = self.schedule.training_levels(
            actions.shape[0], self.config.chunkwise_fraction, actions.device
        )
        noise = torch.randn_like(actions)
        noisy = add_noise_per_position(actions, noise, levels, self.alphas_cumprod)
        prediction = self.unet(noisy, levels, global_cond)
        target = noise if self.config.prediction_type == "epsilon" else actions
        per_sample = masked_mean(F.mse_loss(prediction, target, reduction="none"), valid)
        return per_sample, {"mse": per_sample.mean().item()}

    def denoise(self, x: Tensor, start: Tensor, end: Tensor, n_calls: int, global_cond: Tensor) -> Tensor:
        """Take every position of x (B, T_p, A) from level start[p] to end[p] in n_calls network calls."""
        clip = self.config.clip_sample_range if self.config.clip_sample else None
        path = self.schedule.interpolate(start, end, n_calls)
        batch = x.shape[0]
        for levels, next_levels in zip(path[:-1], path[1:], strict=True):
            levels, next_levels = levels.to(x.device), next_levels.to(x.device)
            out = self.unet(x, levels.clamp_min(0).expand(batch, -1), global_cond)
            x = denoise_step_per_position(
                out,
                x,
                levels,
                next_levels,
                self.alphas_cumprod,
                self.config.prediction_type,
                self.config.eta,
                clip,
                torch.randn_like(x),
            )
        return x

    def sample_trajectory(self, global_cond: Tensor, noise: Tensor | None = None) -> Tensor:
        """A whole clean window from pure noise (constant level, plain DDPM): the buffer's start."""
        n = self.config.num_train_timesteps
        top = torch.full((self.config.horizon,), n - 1, dtype=torch.long)
        calls = self.config.num_initial_calls or n
        return self.denoise(
            self.noise_like(global_cond, noise), top, torch.full_like(top, -1), calls, global_cond
        )

    def plan_actions(self, history: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        """One streaming step: (B, n_action_steps, A) clean actions from the current step on."""
        schedule, cfg = self.schedule, self.config
        global_cond = self.obs_encoder(history)
        if self.buffer is None or self.buffer.shape[0] != global_cond.shape[0]:
            clean = self.sample_trajectory(global_cond, noise)
            self.buffer = add_noise_per_position(
                clean, torch.randn_like(clean), schedule.pre_levels.to(clean.device), self.alphas_cumprod
            )
        calls = cfg.num_inference_calls or schedule.levels_per_call
        denoised = self.denoise(self.buffer, schedule.pre_levels, schedule.post_levels, calls, global_cond)
        self.buffer = self.shift(denoised, torch.randn_like(denoised[:, : cfg.n_action_steps]))
        return self.clip(denoised[:, schedule.first_chunk])

    def shift(self, denoised: Tensor, fresh_noise: Tensor) -> Tensor:
        """Buffer after a call: drop n_action_steps positions, append `fresh_noise` (B, T_a, A) at the
        top level, and re-noise the past positions (now clean executed actions) to chunk 0's level.

        The reference implementation computes that last re-noise and discards it; here it is kept,
        so the buffer matches the levels the network was trained on.
        """
        t_a, past = self.config.n_action_steps, self.config.n_obs_steps - 1
        shifted = torch.cat([denoised[:, t_a:], fresh_noise], dim=1)
        if past > 0:
            level = self.schedule.pre_levels[:past].to(shifted.device)
            renoised = add_noise_per_position(
                shifted[:, :past], torch.randn_like(shifted[:, :past]), level, self.alphas_cumprod
            )
            shifted = torch.cat([renoised, shifted[:, past:]], dim=1)
        return shifted
