"""Config of the Streaming Diffusion Policy head (SDP, Hoeg et al.)."""

from __future__ import annotations

from dataclasses import dataclass

from lerobot.configs import PreTrainedConfig

from simreal.errors import UserError
from simreal.policies.configuration_common import SimrealPolicyConfig
from simreal.policies.streaming_schedule import StreamingSchedule


@PreTrainedConfig.register_subclass("simreal_streaming")
@dataclass
class SimrealStreamingConfig(SimrealPolicyConfig):
    """Streaming Diffusion Policy head: a rolling buffer of partially denoised actions.

    Position i of the horizon carries a noise level that grows with i; each planning call denoises
    every position by about num_train_timesteps / h levels (h = (horizon - n_obs_steps + 1) //
    n_action_steps chunks), emits the now clean first chunk, shifts by n_action_steps and appends
    fresh noise. Training mixes chunk-wise levels (chunkwise_fraction) with one level per sample.
    """

    horizon: int = 20
    n_action_steps: int = 8
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "epsilon"
    chunkwise_fraction: float = 0.8
    # Network calls per planning call; None = num_train_timesteps // h (one level per call, DDPM).
    num_inference_calls: int | None = None
    # Calls that denoise the first, all-noise buffer after a reset; None = num_train_timesteps.
    num_initial_calls: int | None = None
    # DDIM eta of the per-position update: 1 is the DDPM posterior, 0 deterministic.
    eta: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.n_obs_steps - 1 > self.n_action_steps:
            raise UserError("the streaming head needs n_obs_steps - 1 <= n_action_steps")
        if self.temporal_ensemble_coeff is not None:
            raise UserError("the streaming head keeps its own buffer; temporal ensembling does not apply")
        if self.prediction_type not in ("epsilon", "sample"):
            raise UserError(f"prediction_type must be 'epsilon' or 'sample', got '{self.prediction_type}'")
        if not 0.0 <= self.eta <= 1.0:
            raise UserError(f"eta must be in [0, 1] (0 deterministic, 1 the DDPM posterior), got {self.eta}")
        # More calls than levels to cross would repeat levels: network calls that change nothing.
        for name, most in (
            ("num_inference_calls", self.levels_per_call),
            ("num_initial_calls", self.num_train_timesteps),
        ):
            calls = getattr(self, name)
            if calls is not None and not 1 <= calls <= most:
                raise UserError(
                    f"{name} must be in [1, {most}] (one noise level per call at most), "
                    f"or None for the default; got {calls}"
                )

    @property
    def levels_per_call(self) -> int:
        """Noise levels a planning call takes each position down: the most network calls it can use."""
        return StreamingSchedule(
            self.horizon, self.n_obs_steps, self.n_action_steps, self.num_train_timesteps
        ).levels_per_call

    @property
    def calls_per_plan(self) -> int:
        """Network calls a planning call makes: num_inference_calls, else one per level it crosses."""
        return self.num_inference_calls or self.levels_per_call
