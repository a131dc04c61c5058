"""Normalization with LeRobot's processor pipeline, plus fingerprints that tie a checkpoint's
processor statistics to the policy config they were trained with.

Actions and state are min-max scaled to [-1, 1], images standardised per channel, the point cloud
left as is unless the config asks for per-channel min-max. The statistics live in the saved
processors (safetensors); the config records a fingerprint per normalized feature so a checkpoint
whose processors (or a dataset whose statistics) do not match is refused by name.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from lerobot.configs import NormalizationMode
from lerobot.processor import NormalizerProcessorStep, PolicyProcessorPipeline
from lerobot.processor.factory import make_default_policy_processor_steps, make_policy_processor_pipelines

from simreal.errors import UserError
from simreal.policies.configuration_common import SimrealPolicyConfig

STATS_USED: dict[NormalizationMode, tuple[str, ...]] = {
    NormalizationMode.MIN_MAX: ("min", "max"),
    NormalizationMode.MEAN_STD: ("mean", "std"),
    NormalizationMode.QUANTILES: ("q01", "q99"),
    NormalizationMode.QUANTILE10: ("q10", "q90"),
}


def select_stats(
    config: SimrealPolicyConfig, stats: dict[str, dict[str, Any]]
) -> dict[str, dict[str, np.ndarray]]:
    """The statistics the config's normalization reads, as float32 arrays; UserError names any missing."""
    selected: dict[str, dict[str, np.ndarray]] = {}
    for key, mode in config.normalization_modes().items():
        names = STATS_USED[mode]
        have = stats.get(key, {})
        missing = [n for n in names if n not in have]
        if missing:
            raise UserError(f"normalization stats for '{key}' lack {', '.join(missing)} ({mode.value})")
        selected[key] = {n: as_float32(have[n]) for n in names}
    return selected


def fingerprint_stats(config: SimrealPolicyConfig, stats: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Feature key -> short sha256 of the float32 statistics its normalization uses."""
    out = {}
    for key, per_stat in select_stats(config, stats).items():
        digest = hashlib.sha256()
        for name in sorted(per_stat):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(per_stat[name]).tobytes())
        out[key] = digest.hexdigest()[:16]
    return out


def stats_mismatch(config: SimrealPolicyConfig, stats: dict[str, dict[str, Any]]) -> str | None:
    """A phrase naming the first feature whose statistics differ from the config's fingerprint."""
    if not config.stats_fingerprint:
        return "the policy config records no normalization stats fingerprint"
    actual = fingerprint_stats(config, stats)
    for key in sorted(set(config.stats_fingerprint) | set(actual)):
        if config.stats_fingerprint.get(key) != actual.get(key):
            return f"normalization stats of '{key}' differ"
    return None


def make_processors(
    config: SimrealPolicyConfig, dataset_stats: dict[str, dict[str, Any]] | None
) -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline]:
    """LeRobot pre/post processors: rename -> batch -> device -> normalize; unnormalize -> cpu."""
    stats = select_stats(config, dataset_stats) if dataset_stats is not None else None
    steps = make_default_policy_processor_steps(config, stats)
    steps.normalize.normalize_observation_keys = config.normalized_observation_keys()
    return make_policy_processor_pipelines(
        input_steps=[steps.rename_observations, steps.add_batch_dim, steps.to_device, steps.normalize],
        output_steps=[steps.unnormalize, steps.to_cpu],
    )


def processor_stats(preprocessor: PolicyProcessorPipeline) -> dict[str, dict[str, Any]]:
    """The statistics held by a preprocessor's normalizer step."""
    for step in preprocessor.steps:
        if isinstance(step, NormalizerProcessorStep):
            return step.stats
    raise UserError("the checkpoint's preprocessor has no normalizer step")


def as_float32(value: Any) -> np.ndarray:
    """A statistic (tensor, array or list) as a float32 array, for exact comparisons."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)
