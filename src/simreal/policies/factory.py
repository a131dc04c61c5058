"""Building and saving simreal policies from a dataset's features and statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lerobot.configs import FeatureType, PolicyFeature
from lerobot.processor import PolicyProcessorPipeline
from lerobot.utils.feature_utils import dataset_to_policy_features

from simreal.errors import UserError
from simreal.policies.configuration_common import UNET_PRESETS, SimrealPolicyConfig
from simreal.policies.configuration_diffusion import SimrealDiffusionConfig
from simreal.policies.configuration_meanflow import SimrealMeanflowConfig
from simreal.policies.configuration_streaming import SimrealStreamingConfig
from simreal.policies.modeling_diffusion import SimrealDiffusionPolicy
from simreal.policies.modeling_meanflow import SimrealMeanflowPolicy
from simreal.policies.modeling_streaming import SimrealStreamingPolicy
from simreal.policies.normalization import make_processors
from simreal.policies.policy_base import SimrealPolicy

# Head name -> (config class, policy class). The LeRobot type is "simreal_<head>".
HEADS: dict[str, tuple[type[SimrealPolicyConfig], type[SimrealPolicy]]] = {
    "diffusion": (SimrealDiffusionConfig, SimrealDiffusionPolicy),
    "meanflow": (SimrealMeanflowConfig, SimrealMeanflowPolicy),
    "streaming": (SimrealStreamingConfig, SimrealStreamingPolicy),
}


def to_policy_features(features: dict[str, Any]) -> dict[str, PolicyFeature]:
    """LeRobot dataset features ({"dtype", "shape", "names"}, e.g. `env.unwrapped.features` or
    `dataset.meta.features`) or PolicyFeatures -> PolicyFeatures (images channel-first)."""
    if all(isinstance(ft, PolicyFeature) for ft in features.values()):
        return dict(features)
    return dataset_to_policy_features(features)


def make_config(
    kind: str, features: dict[str, Any], *, preset: str | None = None, **overrides: Any
) -> SimrealPolicyConfig:
    """The config of head `kind` ("diffusion", "meanflow", "streaming") for these features.

    `preset` picks the U-Net widths ("cpu" = [64,128,256], "paper" = [512,1024,2048], "paper_lowdim" =
    [256,512,1024]); `overrides` set any config field (horizon=..., n_action_steps=..., device=...).
    """
    if kind not in HEADS:
        raise UserError(f"unknown policy '{kind}'; choose one of {', '.join(HEADS)}")
    if preset is not None:
        if preset not in UNET_PRESETS:
            raise UserError(f"unknown preset '{preset}'; choose one of {', '.join(UNET_PRESETS)}")
        overrides.setdefault("down_dims", UNET_PRESETS[preset])
    config_cls = HEADS[kind][0]
    unknown = sorted(set(overrides) - set(config_cls.__dataclass_fields__))
    if unknown:
        raise UserError(f"unknown {kind} policy settings: {', '.join(unknown)}")
    pf = to_policy_features(features)
    outputs = {k: ft for k, ft in pf.items() if ft.type is FeatureType.ACTION}
    inputs = {k: ft for k, ft in pf.items() if ft.type is not FeatureType.ACTION}
    return config_cls(input_features=inputs, output_features=outputs, **overrides)


def make_policy(
    kind: str,
    features: dict[str, Any],
    stats: dict[str, dict[str, Any]],
    *,
    preset: str | None = None,
    fps: float | None = None,
    **overrides: Any,
) -> SimrealPolicy:
    """A fresh policy of head `kind` for a dataset's features and normalization statistics
    (`dataset.meta.stats`). Pair it with `make_processors(policy.config, stats)`.

    Raises UserError naming missing features (e.g. obs_keys the dataset lacks) or stats.
    """
    config = make_config(kind, features, preset=preset, **overrides)
    if fps is not None:
        config.fps = float(fps)
    policy = HEADS[kind][1](config, dataset_stats=stats)
    return policy.to(config.device)


def save_checkpoint(
    policy: SimrealPolicy,
    preprocessor: PolicyProcessorPipeline,
    postprocessor: PolicyProcessorPipeline,
    directory: str | Path,
) -> Path:
    """Write config.json + model.safetensors + the processors (with their stats) to `directory`,
    the layout `load_policy` and LeRobot's `from_pretrained` read."""
    directory = Path(directory)
    policy.save_pretrained(directory)
    preprocessor.save_pretrained(directory)
    postprocessor.save_pretrained(directory)
    return directory


__all__ = ["HEADS", "make_config", "make_policy", "make_processors", "save_checkpoint", "to_policy_features"]
