"""The conditional 1-D temporal U-Net of Diffusion Policy (Chi et al.), conditioned by FiLM.

The network maps a noisy action sequence (B, T, A) plus a step embedding and a global observation
condition to a sequence of the same shape (noise, clean sample or velocity, depending on the head).
Each part also has `forward_with_tangent`, which returns the forward-mode derivative along tangents of
the sample and the steps (the observation condition held fixed) beside the output: MeanFlow's target.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from simreal.policies.tangents import with_tangent


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sinusoidal features of scalar steps: (...,) -> (..., dim)."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, steps: Tensor) -> Tensor:
        return self.forward_with_tangent(steps, None)[0]

    def forward_with_tangent(self, steps: Tensor, steps_t: Tensor | None) -> tuple[Tensor, Tensor | None]:
        steps = steps if steps.is_floating_point() else steps.to(self.freqs.dtype)
        args = steps[..., None] * self.freqs
        sin, cos = args.sin(), args.cos()
        features = torch.cat([sin, cos], dim=-1)
        if steps_t is None:
            return features, None
        with torch.no_grad():
            args_t = steps_t[..., None] * self.freqs
            return features, torch.cat([cos * args_t, -sin * args_t], dim=-1)


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
        return self.forward_with_tangent(steps, None)[0]

    def forward_with_tangent(self, steps: Tensor, steps_t: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if steps.ndim == 1:
            steps = steps[:, None]
            steps_t = None if steps_t is None else steps_t[:, None]
        features, features_t = self.sinusoid.forward_with_tangent(steps, steps_t)
        features_t = None if features_t is None else features_t.flatten(1)
        return with_tangent(self.mlp, features.flatten(1), features_t)


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
        return self.forward_with_tangent(x, cond, None, None)[0]

    def forward_with_tangent(
        self, x: Tensor, cond: Tensor, x_t: Tensor | None, cond_t: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        out, out_t = with_tangent(self.conv1, x, x_t)
        film, film_t = with_tangent(self.film, cond, cond_t)
        scale, bias = film.unsqueeze(-1).chunk(2, dim=1)
        modulated_t = None
        if out_t is not None:
            with torch.no_grad():
                scale_t, bias_t = film_t.unsqueeze(-1).chunk(2, dim=1)
                modulated_t = scale_t * out.detach() + scale.detach() * out_t + bias_t
        out, out_t = with_tangent(self.conv2, scale * out + bias, modulated_t)
        residual, residual_t = with_tangent(self.residual, x, x_t)
        return out + residual, None if out_t is None else out_t + residual_t


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
        out, _, latents = self.forward_with_tangent(sample, steps, global_cond)
        return (out, latents) if return_latents else out

    def forward_with_tangent(
        self,
        sample: Tensor,
        steps: Tensor,
        global_cond: Tensor,
        sample_t: Tensor | None = None,
        steps_t: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        """The output, its derivative along (sample_t, steps_t) with global_cond held fixed (None
        without tangents; computed without autograd graph) and the down-path latents."""
        if (sample_t is None) != (steps_t is None):
            raise ValueError("give both tangents (of the sample and of the steps) or neither")
        x = sample.transpose(1, 2)
        x_t = None if sample_t is None else sample_t.transpose(1, 2)
        step_features, step_features_t = self.step_embedding.forward_with_tangent(steps, steps_t)
        cond = torch.cat([step_features, global_cond], dim=-1)
        cond_t = None
        if step_features_t is not None:
            cond_t = torch.cat([step_features_t, torch.zeros_like(global_cond)], dim=-1)
        skips = []
        for block1, block2, down in self.down:
            x, x_t = block1.forward_with_tangent(x, cond, x_t, cond_t)
            x, x_t = block2.forward_with_tangent(x, cond, x_t, cond_t)
            skips.append((x, x_t))
            x, x_t = with_tangent(down, x, x_t)
        latents = [skip for skip, _ in skips]
        for block in self.mid:
            x, x_t = block.forward_with_tangent(x, cond, x_t, cond_t)
        for block1, block2, up in self.up:
            skip, skip_t = skips.pop()
            x = torch.cat([x, skip], dim=1)
            x_t = None if x_t is None else torch.cat([x_t, skip_t], dim=1)
            x, x_t = block1.forward_with_tangent(x, cond, x_t, cond_t)
            x, x_t = block2.forward_with_tangent(x, cond, x_t, cond_t)
            x, x_t = with_tangent(up, x, x_t)
        out, out_t = with_tangent(self.final, x, x_t)
        return out.transpose(1, 2), None if out_t is None else out_t.transpose(1, 2), latents
