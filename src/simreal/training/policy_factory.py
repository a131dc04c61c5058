"""Build the policy to train, with its LeRobot pre/post-processors and its data windows.

simreal's heads come from `simreal.policies.make_policy`; `lerobot_diffusion` is LeRobot's own
DiffusionPolicy, built with the same recipe for a side-by-side comparison on the same dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from lerobot.policies.pretrained import PreTrainedPolicy

from simreal.errors import UserError

# LeRobot DiffusionConfig overrides per preset. No pretrained backbone: nothing may be downloaded.
LEROBOT_DIFFUSION_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        horizon=8,
        n_action_steps=4,
        down_dims=(16, 32),
        diffusion_step_embed_dim=16,
        kernel_size=3,
        spatial_softmax_num_keypoints=8,
        noise_scheduler_type="DDIM",
        num_train_timesteps=20,
        num_inference_steps=4,
    ),
    "small": dict(
        horizon=16,
        n_action_steps=8,
        down_dims=(64, 128, 256),
        diffusion_step_embed_dim=64,
        noise_scheduler_type="DDIM",
        num_train_timesteps=100,
        num_inference_steps=10,
    ),
    "paper": dict(
        horizon=16,
        n_action_steps=8,
        down_dims=(512, 1024, 2048),
        diffusion_step_embed_dim=128,
        noise_scheduler_type="DDPM",
        num_train_timesteps=100,
        crop_ratio=0.9,
    ),
}


# simreal head settings per preset: the policies package's U-Net presets, plus a tiny one for tests.
SIMREAL_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        down_dims=(16, 32),
        obs_embed_dim=16,
        step_embed_dim=16,
        kernel_size=3,
        n_groups=4,
        spatial_softmax_num_keypoints=8,
    ),
    "small": dict(preset="cpu"),
    "paper": dict(preset="paper"),
}


@dataclass
class PolicyBundle:
    """A policy and what training needs to feed it."""

    policy: PreTrainedPolicy
    preprocessor: Any
    postprocessor: Any

    @property
    def obs_deltas(self) -> list[int]:
        """Observation frame offsets (T_o steps ending at 0)."""
        return list(self.policy.config.observation_delta_indices)

    @property
    def action_deltas(self) -> list[int]:
        """Action frame offsets (T_p steps starting at 1 - T_o)."""
        return list(self.policy.config.action_delta_indices)

    @property
    def drop_n_last_frames(self) -> int:
        """Episode tail not used as a window start (mostly padding), as in Diffusion Policy."""
        return int(getattr(self.policy.config, "drop_n_last_frames", 0))


def build_policy(
    kind: str,
    preset: str,
    features: dict[str, dict],
    stats: dict[str, dict],
    device: torch.device,
    fps: float,
    overrides: dict[str, Any] | None = None,
) -> PolicyBundle:
    """A fresh policy of `kind` for the dataset `features` (observation keys + "action").

    `stats` are the dataset's normalisation stats; they travel with the processors. `fps` is the
    dataset's frame rate (the policy records it). `overrides` set policy config fields.
    """
    overrides = dict(overrides or {})
    if kind == "lerobot_diffusion":
        return _lerobot_diffusion(preset, features, stats, device, overrides)
    from simreal.policies import make_policy, make_processors

    settings = {**SIMREAL_PRESETS[preset], **overrides, "device": device.type}
    policy = make_policy(kind, features, stats, fps=fps, **settings)
    preprocessor, postprocessor = make_processors(policy.config, stats)
    return PolicyBundle(policy, preprocessor, postprocessor)


def _lerobot_diffusion(preset, features, stats, device, overrides) -> PolicyBundle:
    from lerobot.configs.types import FeatureType
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.factory import make_pre_post_processors
    from lerobot.utils.feature_utils import dataset_to_policy_features

    policy_features = dataset_to_policy_features(features)
    unsupported = [k for k in policy_features if k.startswith("observation.pointcloud")]
    if unsupported:
        raise UserError(
            "lerobot_diffusion takes images and state, not point clouds: drop pointcloud from --obs"
        )
    if not any(f.type is FeatureType.VISUAL for f in policy_features.values()):
        raise UserError("lerobot_diffusion needs at least one camera in --obs (e.g. --obs state,rgb)")
    params = {**LEROBOT_DIFFUSION_PRESETS[preset], **overrides}
    horizon, n_action, n_obs = params["horizon"], params["n_action_steps"], params.get("n_obs_steps", 2)
    config = DiffusionConfig(
        input_features={k: f for k, f in policy_features.items() if f.type is not FeatureType.ACTION},
        output_features={k: f for k, f in policy_features.items() if f.type is FeatureType.ACTION},
        pretrained_backbone_weights=None,
        use_group_norm=True,
        drop_n_last_frames=horizon - n_action - n_obs + 1,
        device=device.type,
        **params,
    )
    if config.resize_shape is None and config.crop_ratio < 1.0:
        height, width = next(iter(config.image_features.values())).shape[1:]
        config.crop_shape = (int(height * config.crop_ratio), int(width * config.crop_ratio))
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    return PolicyBundle(DiffusionPolicy(config).to(device), preprocessor, postprocessor)
