"""MeanFlow head (MP1): learns the average velocity u(z, t, r) with the MeanFlow identity and
generates an action window with one network evaluation, x = z1 - u(z1, t=1, r=0)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from simreal.policies.configuration_common import SimrealPolicyConfig
from simreal.policies.configuration_meanflow import SimrealMeanflowConfig
from simreal.policies.policy_base import SimrealPolicy, masked_mean


def sample_time_pairs(
    batch: int, mean: float, std: float, equal_fraction: float, device: torch.device
) -> tuple[Tensor, Tensor]:
    """(t, r) per sample: t >= r in (0, 1), logit-normal, with r = t for `equal_fraction` of them."""
    draws = torch.sigmoid(torch.randn(batch, 2, device=device) * std + mean)
    t, r = draws.max(dim=1).values, draws.min(dim=1).values
    equal = torch.rand(batch, device=device) < equal_fraction
    return t, torch.where(equal, t, r)


def dispersive_loss(latents: list[Tensor], tau: float) -> Tensor:
    """Mean over latents of log-mean-exp(-D / tau), D the pairwise squared distances between the
    batch's flattened latents divided by their max (MP1). Lower = more spread-out representations."""
    losses = []
    for latent in latents:
        h = latent.flatten(1)
        d = torch.cdist(h, h).pow(2)
        d = d / d.max().detach().clamp_min(1e-12)
        losses.append(torch.logsumexp(-d.flatten() / tau, dim=0) - torch.log(torch.tensor(float(d.numel()))))
    return torch.stack(losses).mean()


class SimrealMeanflowPolicy(SimrealPolicy):
    """LeRobot policy "simreal_meanflow"."""

    config_class = SimrealMeanflowConfig
    name = "simreal_meanflow"

    def __init__(self, config: SimrealMeanflowConfig, **kwargs):
        super().__init__(config, **kwargs)
        # The condition of the unconditional branch (classifier-free guidance), learned.
        self.null_cond = nn.Parameter(torch.zeros(self.obs_encoder.out_dim))

    @staticmethod
    def n_step_inputs(config: SimrealPolicyConfig) -> int:
        return 2  # t and t - r

    def average_velocity(self, z: Tensor, t: Tensor, r: Tensor, cond: Tensor, return_latents: bool = False):
        """u(z, t, r | cond): z (B, T, A), t and r (B,) in [0, 1]."""
        return self.unet(z, self._steps(t, r), cond, return_latents=return_latents)

    def _steps(self, t: Tensor, r: Tensor) -> Tensor:
        """The U-Net's two step inputs, t and t - r, scaled by time_embed_scale: (B, 2)."""
        return torch.stack([t, t - r], dim=-1) * self.config.time_embed_scale

    def velocity_and_time_derivative(
        self, z: Tensor, t: Tensor, r: Tensor, v: Tensor, cond: Tensor
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """u(z, t, r), its total derivative d/dt u(z_t, t, r) along the flow (tangents (dz/dt, dt/dt,
        dr/dt) = (v, 1, 0); no autograd graph: the target is a stop-gradient) and the U-Net's latents.

        config.jvp picks how: "unet", the U-Net's own forward-mode formulas (simreal.policies.tangents),
        or "torch_func", torch.func.jvp through the same network: equal to rounding, slower on CPU.
        """
        if self.config.jvp == "unet":
            steps = self._steps(t, r)
            steps_t = torch.full_like(steps, self.config.time_embed_scale)  # both scale t, r is fixed
            return self.unet.forward_with_tangent(z, steps, cond, v, steps_t)

        def u_fn(z_, t_, r_):
            return self.average_velocity(z_, t_, r_, cond, return_latents=True)

        u, du_dt, latents = torch.func.jvp(
            u_fn, (z, t, r), (v, torch.ones_like(t), torch.zeros_like(r)), has_aux=True
        )
        return u, du_dt.detach(), latents

    def compute_loss(
        self, global_cond: Tensor, actions: Tensor, valid: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        batch = actions.shape[0]
        t, r = sample_time_pairs(batch, cfg.time_mean, cfg.time_std, cfg.equal_time_fraction, actions.device)
        eps = torch.randn_like(actions)
        t3, r3 = t.view(-1, 1, 1), r.view(-1, 1, 1)
        z = (1 - t3) * actions + t3 * eps
        v = eps - actions

        dropped = torch.rand(batch, device=actions.device) < cfg.cond_dropout
        null = self.null_cond.expand(batch, -1)
        cond = torch.where(dropped[:, None], null, global_cond)
        if cfg.guidance_scale != 1.0:
            with torch.no_grad():
                u_uncond = self.average_velocity(z, t, t, null)
            guided = cfg.guidance_scale * v + (1 - cfg.guidance_scale) * u_uncond
            v = torch.where(dropped[:, None, None], v, guided)

        u, du_dt, latents = self.velocity_and_time_derivative(z, t, r, v, cond)
        u_target = (v - (t3 - r3) * du_dt).detach()
        # Summed over the window (MP1's ||.||^2); masked positions count as zero error.
        sq_error = masked_mean((u - u_target).pow(2), valid) * actions[0].numel()
        weight = (sq_error.detach() + cfg.adaptive_eps).pow(-cfg.adaptive_power)
        per_sample = weight * sq_error
        logs = {"meanflow_sq_error": sq_error.mean().item()}
        if cfg.dispersive_weight > 0 and batch > 1:
            disp = dispersive_loss(latents, cfg.dispersive_tau)
            per_sample = per_sample + cfg.dispersive_weight * disp
            logs["dispersive"] = disp.item()
        return per_sample, logs

    def sample_trajectory(self, global_cond: Tensor, noise: Tensor | None = None) -> Tensor:
        z = self.noise_like(global_cond, noise)
        times = torch.linspace(1.0, 0.0, self.config.num_inference_steps + 1, device=z.device)
        ones = torch.ones(z.shape[0], device=z.device)
        for t, r in zip(times[:-1], times[1:], strict=True):
            z = z - (t - r) * self.average_velocity(z, ones * t, ones * r, global_cond)
        return z
