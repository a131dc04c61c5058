"""Config of the Diffusion Policy head (DDPM training, DDPM or DDIM sampling through diffusers)."""

from __future__ import annotations

from dataclasses import dataclass

from lerobot.configs import PreTrainedConfig

from simreal.errors import UserError
from simreal.policies.configuration_common import SimrealPolicyConfig


@PreTrainedConfig.register_subclass("simreal_diffusion")
@dataclass
class SimrealDiffusionConfig(SimrealPolicyConfig):
    """Diffusion Policy (Chi et al.) / DP3 head.

    Training: DDPM with num_train_timesteps steps and the squaredcos_cap_v2 schedule.
    Inference: `sampler` "DDPM" or "DDIM" with num_inference_steps (None = num_train_timesteps).
    prediction_type "epsilon" (Diffusion Policy) or "sample" (DP3).
    """

    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "epsilon"
    sampler: str = "DDPM"
    num_inference_steps: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.prediction_type not in ("epsilon", "sample"):
            raise UserError(f"prediction_type must be 'epsilon' or 'sample', got '{self.prediction_type}'")
        if self.sampler not in ("DDPM", "DDIM"):
            raise UserError(f"sampler must be 'DDPM' or 'DDIM', got '{self.sampler}'")
        steps = self.num_inference_steps
        if steps is not None and not 1 <= steps <= self.num_train_timesteps:
            raise UserError(
                f"num_inference_steps must be in [1, {self.num_train_timesteps}] (its training timesteps), "
                f"got {steps}"
            )
