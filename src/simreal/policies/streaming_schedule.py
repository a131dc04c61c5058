"""Noise levels of the Streaming Diffusion Policy's rolling action buffer, and the per-position
denoising step.

Layout of the horizon (T_p positions, level -1 = clean, N - 1 = pure noise):
- positions [0, T_o - 1): the past; they belong to chunk 0;
- chunks i = 0..h-1 of n_action_steps positions from T_o - 1 on, h = (T_p - T_o + 1) // T_a;
- any positions after the last chunk stay pure noise (level N - 1).
Before a planning call chunk i sits at level L_pre(i) = floor(N (i+1) / h) - 1; the call brings it to
L_post(i) = floor(N i / h) - 1, so chunk 0 (and the past) becomes clean. Shifting by T_a then puts
old chunk i+1 (at L_post(i+1) = L_pre(i)) in place of chunk i: the buffer is ready for the next call.
"""

from __future__ import annotations

import torch
from torch import Tensor


class StreamingSchedule:
    """Per-position noise levels for training and inference (see the module docstring)."""

    def __init__(self, horizon: int, n_obs_steps: int, n_action_steps: int, num_train_timesteps: int):
        self.horizon, self.n_obs_steps, self.n_action_steps = horizon, n_obs_steps, n_action_steps
        self.num_levels = num_train_timesteps
        self.n_chunks = (horizon - n_obs_steps + 1) // n_action_steps
        if self.n_chunks < 1:
            raise ValueError("the horizon holds no full chunk of n_action_steps after the past steps")
        chunk = torch.full((horizon,), -1, dtype=torch.long)  # -1: beyond the last chunk
        start = n_obs_steps - 1
        chunk[:start] = 0
        for i in range(self.n_chunks):
            chunk[start + i * n_action_steps : start + (i + 1) * n_action_steps] = i
        self.chunk_of_position = chunk
        self.pre_levels = self._levels(lambda i: (self.num_levels * (i + 1)) // self.n_chunks - 1)
        self.post_levels = self._levels(lambda i: (self.num_levels * i) // self.n_chunks - 1)
        self.levels_per_call = self.num_levels // self.n_chunks

    def _levels(self, level_of_chunk) -> Tensor:
        levels = torch.full((self.horizon,), self.num_levels - 1, dtype=torch.long)
        for i in range(self.n_chunks):
            levels[self.chunk_of_position == i] = level_of_chunk(i)
        return levels

    @property
    def first_chunk(self) -> slice:
        """The positions of chunk 0 (the actions executed after a planning call)."""
        start = self.n_obs_steps - 1
        return slice(start, start + self.n_action_steps)

    def training_levels(self, batch: int, chunkwise_fraction: float, device: torch.device) -> Tensor:
        """(B, T_p) levels: chunk-wise L_pre(i) - j with one j ~ U[0, N // h) per sample for
        `chunkwise_fraction` of the batch, one level ~ U[0, N) for every position otherwise."""
        pre = self.pre_levels.to(device)
        j = torch.randint(0, self.levels_per_call, (batch, 1), device=device)
        in_chunk = (self.chunk_of_position >= 0).to(device)
        chunkwise = torch.where(in_chunk, pre - j, pre)
        constant = torch.randint(0, self.num_levels, (batch, 1), device=device).expand(-1, self.horizon)
        use_chunkwise = torch.rand(batch, 1, device=device) < chunkwise_fraction
        return torch.where(use_chunkwise, chunkwise, constant)

    @staticmethod
    def interpolate(start: Tensor, end: Tensor, n_calls: int) -> list[Tensor]:
        """n_calls + 1 integer level vectors going from `start` to `end` (inclusive) per position."""
        frac = torch.arange(n_calls + 1, dtype=torch.float64)[:, None] / n_calls
        path = start.double() + (end - start).double() * frac
        return [p.round().long() for p in path]


def add_noise_per_position(sample: Tensor, noise: Tensor, levels: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """Forward diffusion q(x_l | x_0) with one level per position: sample, noise (B, T, A); levels
    (B, T) or (T,) in [-1, N); level -1 leaves the sample clean."""
    abar = _abar(levels, alphas_cumprod).to(sample)
    return abar.sqrt()[..., None] * sample + (1 - abar).sqrt()[..., None] * noise


def denoise_step_per_position(
    model_output: Tensor,
    sample: Tensor,
    levels: Tensor,
    next_levels: Tensor,
    alphas_cumprod: Tensor,
    prediction_type: str,
    eta: float,
    clip_range: float | None,
    noise: Tensor,
) -> Tensor:
    """DDIM update from `levels` to `next_levels` (<=) per position (B, T); eta=1 and a one-level
    step is the DDPM posterior. Positions whose level does not change are returned as they are."""
    abar = _abar(levels, alphas_cumprod).to(sample)[..., None]
    abar_next = _abar(next_levels, alphas_cumprod).to(sample)[..., None]
    if prediction_type == "epsilon":
        x0 = (sample - (1 - abar).sqrt() * model_output) / abar.sqrt()
    else:
        x0 = model_output
    if clip_range is not None:
        x0 = x0.clamp(-clip_range, clip_range)
    eps = (sample - abar.sqrt() * x0) / (1 - abar).sqrt().clamp_min(1e-12)
    ratio = (abar / abar_next).clamp(max=1.0)
    sigma = eta * ((1 - abar_next) / (1 - abar).clamp_min(1e-12) * (1 - ratio)).clamp_min(0).sqrt()
    direction = (1 - abar_next - sigma**2).clamp_min(0).sqrt() * eps
    stepped = abar_next.sqrt() * x0 + direction + sigma * noise
    moving = (next_levels < levels)[..., None]
    return torch.where(moving, stepped, sample)


def _abar(levels: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """alpha-bar per level, 1 for level -1 (clean)."""
    alphas_cumprod = alphas_cumprod.to(levels.device)
    return torch.where(levels >= 0, alphas_cumprod[levels.clamp_min(0)], torch.ones_like(alphas_cumprod[0]))
