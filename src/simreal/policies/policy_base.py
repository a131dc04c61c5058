"""The body the three heads share as LeRobot policies: observation encoders + conditional U-Net,
observation history, receding-horizon execution, and input checks.

A head subclasses SimrealPolicy and defines `compute_loss` (training) and `sample_trajectory`
(inference); the streaming head also overrides `plan_actions` to keep its rolling buffer.
All tensors here are in normalized units (the LeRobot processors normalize before and unnormalize
after the policy).
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from lerobot.policies.pretrained import PreTrainedPolicy
from torch import Tensor

from simreal.datasets.schema import ACTION_KEY
from simreal.errors import UserError
from simreal.policies.configuration_common import SimrealPolicyConfig
from simreal.policies.encoders import ObservationEncoder
from simreal.policies.execution import ActionQueue, ObservationHistory, TemporalEnsembler
from simreal.policies.normalization import fingerprint_stats
from simreal.policies.unet import ConditionalUnet1D


class SimrealPolicy(PreTrainedPolicy):
    """Base of SimrealDiffusionPolicy, SimrealMeanflowPolicy and SimrealStreamingPolicy."""

    config_class = SimrealPolicyConfig
    name = "simreal_base"

    def __init__(
        self,
        config: SimrealPolicyConfig,
        dataset_stats: dict[str, dict[str, Any]] | None = None,
        dataset_meta: Any = None,
        **kwargs: Any,
    ):
        super().__init__(config)
        config.validate_features()
        if dataset_stats is not None:
            config.stats_fingerprint = fingerprint_stats(config, dataset_stats)
        if dataset_meta is not None:
            config.fps = float(dataset_meta.fps)
        self.action_dim = config.action_feature.shape[0]
        self.obs_encoder = ObservationEncoder(
            config.input_features,
            config.n_obs_steps,
            config.obs_embed_dim,
            config.image_crop_ratio,
            config.spatial_softmax_num_keypoints,
            mixed_precision=config.use_amp,
            backbone_stages=config.image_backbone_stages,
            raw_state=config.state_encoder == "raw",
        )
        self.unet = ConditionalUnet1D(
            self.action_dim,
            self.obs_encoder.out_dim,
            tuple(config.down_dims),
            config.kernel_size,
            config.n_groups,
            config.step_embed_dim,
            n_step_inputs=self.n_step_inputs(config),
        )
        self._history = ObservationHistory(config.n_obs_steps)
        self._queue = ActionQueue()
        n_future = config.horizon - config.n_obs_steps + 1
        coeff = config.temporal_ensemble_coeff
        self._ensembler = TemporalEnsembler(coeff, n_future) if coeff is not None else None

    # ---- what a head defines -------------------------------------------------------------------
    @staticmethod
    def n_step_inputs(config: SimrealPolicyConfig) -> int:
        """How many step values per sample the U-Net's step embedding reads."""
        return 1

    @abc.abstractmethod
    def compute_loss(
        self, global_cond: Tensor, actions: Tensor, valid: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """global_cond (B, G), actions (B, horizon, A) -> per-sample loss (B,) and scalar logs.
        `valid` (B, horizon) bool marks the positions that count (None: all); see `masked_mean`."""

    @abc.abstractmethod
    def sample_trajectory(self, global_cond: Tensor, noise: Tensor | None = None) -> Tensor:
        """global_cond (B, G) -> a sampled action window (B, horizon, A)."""

    # ---- LeRobot interface ---------------------------------------------------------------------
    def get_optim_params(self):
        return self.parameters()

    def reset(self) -> None:
        """Forget the observation history and any planned actions (call at every episode start)."""
        self._history.reset()
        self._queue.reset()
        if self._ensembler is not None:
            self._ensembler.reset()

    def forward(self, batch: dict[str, Tensor], reduction: str = "mean") -> tuple[Tensor, dict]:
        """Training loss of a batch of windows: observations (B, T_o, ...) and actions (B, horizon, A)."""
        required = [*self.config.input_features, ACTION_KEY]
        missing = [k for k in required if k not in batch]
        if missing:
            raise UserError(f"the batch lacks features the policy needs: {', '.join(missing)}")
        actions = batch[ACTION_KEY]
        if actions.ndim != 3 or actions.shape[1] != self.config.horizon:
            raise UserError(
                f"'{ACTION_KEY}' must be (B, horizon={self.config.horizon}, A), got {tuple(actions.shape)}"
            )
        global_cond = self.obs_encoder({k: batch[k] for k in self.config.input_features})
        pad_key = f"{ACTION_KEY}_is_pad"
        valid = ~batch[pad_key] if self.config.mask_padded_actions and pad_key in batch else None
        per_sample, logs = self.compute_loss(global_cond, actions, valid)
        if reduction == "none":
            return per_sample, logs
        return per_sample.mean(), logs

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        """The next n_action_steps actions (B, n_action_steps, A), normalized.

        `batch` holds either one observation step per key (B, *shape), which is repeated to fill the
        history, or the history itself (B, n_obs_steps, *shape).
        """
        history = {k: self._as_history(k, batch[k]) for k in self.config.input_features}
        return self.plan_actions(history, noise)[:, : self.config.n_action_steps]

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        """One action (B, A) for the current observation (B, *shape per key), normalized.

        Keeps the observation history and plans a new chunk when the queue of executed actions runs
        out (or every step, with temporal ensembling). Raises UserError on a missing key or NaN.
        """
        check_observation(batch, self.config.input_features)
        history = self._history.push({k: batch[k] for k in self.config.input_features})
        if self._ensembler is not None:
            action = self._ensembler.update(self.plan_actions(history, noise))
        else:
            if self._queue.empty():
                self._queue.extend(self.plan_actions(history, noise)[:, : self.config.n_action_steps])
            action = self._queue.pop()
        if not torch.isfinite(action).all():
            raise RuntimeError("the policy produced a non-finite action")
        return action

    # ---- shared helpers ------------------------------------------------------------------------
    def plan_actions(self, history: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        """Observation history (B, T_o, ...) -> actions from the current step on (B, n_future, A)."""
        trajectory = self.sample_trajectory(self.obs_encoder(history), noise)
        return self.clip(trajectory[:, self.config.n_obs_steps - 1 :])

    def clip(self, actions: Tensor) -> Tensor:
        if not self.config.clip_sample:
            return actions
        limit = self.config.clip_sample_range
        return actions.clamp(-limit, limit)

    def _as_history(self, key: str, value: Tensor) -> Tensor:
        feature_ndim = len(self.config.input_features[key].shape)
        if value.ndim == feature_ndim + 2:
            return value
        if value.ndim == feature_ndim + 1:
            return value.unsqueeze(1).expand(-1, self.config.n_obs_steps, *value.shape[1:])
        raise UserError(
            f"'{key}' has shape {tuple(value.shape)}; expected (B, *{self.config.input_features[key].shape})"
        )

    def noise_like(self, global_cond: Tensor, noise: Tensor | None) -> Tensor:
        """Standard normal (B, horizon, A) on the condition's device, unless `noise` is given."""
        if noise is not None:
            return noise.to(global_cond)
        shape = (global_cond.shape[0], self.config.horizon, self.action_dim)
        return torch.randn(shape, device=global_cond.device, dtype=global_cond.dtype)


def masked_mean(values: Tensor, valid: Tensor | None) -> Tensor:
    """Per-sample mean of (B, T, A) `values` over the positions where `valid` (B, T) is True (all when
    None); a sample with no valid position contributes 0."""
    if valid is None:
        return values.mean(dim=(1, 2))
    weight = valid.to(values.dtype).unsqueeze(-1)
    return (values * weight).sum(dim=(1, 2)) / (weight.sum(dim=(1, 2)) * values.shape[-1]).clamp_min(1.0)


def check_observation(batch: dict[str, Tensor], features: dict) -> None:
    """UserError if an observation key is missing or holds NaN/inf."""
    missing = [k for k in features if k not in batch]
    if missing:
        raise UserError(f"the observation lacks {', '.join(missing)}")
    for key in features:
        value = batch[key]
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise UserError(f"observation '{key}' contains NaN or inf")
