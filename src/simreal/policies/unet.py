"""The conditional 1-D temporal U-Net of Diffusion Policy (Chi et al.), conditioned by FiLM.

The network maps a noisy action sequence (B, T, A) plus a step embedding and a global observation
condition to a sequence of the same shape (noise, clean sample or velocity, depending on the head).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sinusoidal features of scalar steps: (...,) -> (..., dim)."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, steps: Tensor) -> Tensor:
        steps = steps if steps.is_floating_point() else steps.to(self.freqs.dtype)
        args = steps[..., None] * self.freqs
        return torch.cat([args.sin(), args.cos()], dim=-1)


class StepEmbedding(nn.Module):
    """Embeds K steps per sample into one conditioning vector: (B,) or (B, K) -> (B, dim).

    K=1 is Diffusion Policy's diffusion-step encoder; MeanFlow feeds K=2 (t and t - r); the streaming
    head feeds one noise level per horizon position (K = T_p), flattened into one FiLM vector.
    """

    def __init__(self, dim: int, n_steps: int = 1):
        super().__init__()
        self.n_steps = n_steps
        self.sinusoid = SinusoidalEmbedding(dim)
        self.mlp = nn.Sequential(nn.Linear(dim * n_steps, dim * 4), nn.Mish(), nn.Linear(dim * 4, dim))

    def forward(self, steps: Tensor) -> Tensor:
        if steps.ndim == 1:
            steps = steps[:, None]
        return self.mlp(self.sinusoid(steps).flatten(1))


class Conv1dBlock(nn.Sequential):
    """Conv1d -> GroupNorm -> Mish."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_groups: int):
        super().__init__(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_channels),
            nn.Mish(),
        )


class FiLMResidualBlock(nn.Module):
    """Two conv blocks; the condition scales and shifts the first block's output channel-wise."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int, n_groups: int):
        super().__init__()
        self.conv1 = Conv1dBlock(in_channels, out_channels, kernel_size, n_groups)
        self.conv2 = Conv1dBlock(out_channels, out_channels, kernel_size, n_groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, out_channels * 2))
        self.residual = (
            nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        out = self.conv1(x)
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        out = self.conv2(scale * out + bias)
        return out + self.residual(x)


class ConditionalUnet1D(nn.Module):
    """Diffusion Policy's U-Net over the time axis of an action sequence.

    Args:
        action_dim: A, the channels of the input and output sequence.
        global_cond_dim: size of the observation condition vector.
        down_dims: channels per resolution; the sequence is halved len(down_dims) - 1 times, so the
            horizon must be a multiple of 2 ** (len(down_dims) - 1).
        kernel_size, n_groups: convolution kernel and GroupNorm groups (5 and 8 in the papers).
        step_embed_dim: size of the step embedding (128 in the papers).
        n_step_inputs: how many steps per sample the embedding reads (see StepEmbedding).
    """

    def __init__(
        self,
        action_dim: int,
        global_cond_dim: int,
        down_dims: tuple[int, ...],
        kernel_size: int = 5,
        n_groups: int = 8,
        step_embed_dim: int = 128,
        n_step_inputs: int = 1,
    ):
        super().__init__()
        self.step_embedding = StepEmbedding(step_embed_dim, n_step_inputs)
        cond_dim = step_embed_dim + global_cond_dim
        block = lambda cin, cout: FiLMResidualBlock(cin, cout, cond_dim, kernel_size, n_groups)
        dims = [action_dim, *down_dims]
        pairs = list(zip(dims[:-1], dims[1:], strict=True))

        self.down = nn.ModuleList()
        for i, (cin, cout) in enumerate(pairs):
            last = i == len(pairs) - 1
            down = nn.Identity() if last else nn.Conv1d(cout, cout, 3, stride=2, padding=1)
            self.down.append(nn.ModuleList([block(cin, cout), block(cout, cout), down]))
        self.mid = nn.ModuleList([block(down_dims[-1], down_dims[-1]), block(down_dims[-1], down_dims[-1])])
        self.up = nn.ModuleList()
        for cin, cout in reversed(pairs[1:]):
            up = nn.ConvTranspose1d(cin, cin, 4, stride=2, padding=1)
            self.up.append(nn.ModuleList([block(cout * 2, cin), block(cin, cin), up]))
        self.final = nn.Sequential(
            Conv1dBlock(down_dims[0], down_dims[0], kernel_size, n_groups),
            nn.Conv1d(down_dims[0], action_dim, 1),
        )

    def forward(
        self, sample: Tensor, steps: Tensor, global_cond: Tensor, return_latents: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """sample (B, T, A), steps (B,) or (B, K), global_cond (B, G) -> (B, T, A).

        With return_latents, also returns the down-path features (one (B, C, T_i) per resolution),
        which MeanFlow's dispersive loss spreads apart.
        """
        x = sample.transpose(1, 2)
        cond = torch.cat([self.step_embedding(steps), global_cond], dim=-1)
        skips = []
        for block1, block2, down in self.down:
            x = block2(block1(x, cond), cond)
            skips.append(x)
            x = down(x)
        latents = list(skips)
        for block in self.mid:
            x = block(x, cond)
        for block1, block2, up in self.up:
            x = torch.cat([x, skips.pop()], dim=1)
            x = up(block2(block1(x, cond), cond))
        out = self.final(x).transpose(1, 2)
        return (out, latents) if return_latents else out
