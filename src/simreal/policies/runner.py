"""Loading a checkpoint for inference: `load_policy(dir)` -> a runner that maps one raw observation
(numpy, no batch dimension, the env's feature names) to one raw action. Used by `simreal eval`
and the ROS policy node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.configs import FeatureType, PolicyFeature, PreTrainedConfig
from lerobot.policies.factory import make_pre_post_processors

from simreal.errors import UserError
from simreal.policies.configuration_common import SimrealPolicyConfig
from simreal.policies.factory import HEADS, to_policy_features
from simreal.policies.normalization import processor_stats, stats_mismatch
from simreal.policies.policy_base import SimrealPolicy


class PolicyRunner:
    """Raw observation dict -> raw action, with the observation history and action queue inside.

    obs: "observation.state" float32 (S,), "observation.images.<cam>" uint8 (H, W, 3),
    "observation.depth.<cam>" float32 (H, W, 1) metres, "observation.pointcloud" float32 (N, 3|6)
    (base frame); only the keys in `input_features` are read. Returns float32 (action_dim,) in the
    dataset's action units (joint targets in rad + gripper in [0, 1] for the joint_pos controller).
    """

    def __init__(self, policy: SimrealPolicy, preprocessor, postprocessor):
        self.policy, self.preprocessor, self.postprocessor = policy, preprocessor, postprocessor

    @property
    def config(self) -> SimrealPolicyConfig:
        return self.policy.config

    @property
    def input_features(self) -> dict[str, PolicyFeature]:
        return dict(self.config.input_features)

    @property
    def n_action_steps(self) -> int:
        return self.config.n_action_steps

    @property
    def fps(self) -> float | None:
        """The dataset's frame rate (Hz) recorded at training time; None for foreign LeRobot configs."""
        return getattr(self.config, "fps", None)

    def reset(self) -> None:
        """Start a new episode: clears the history, queued actions and any streaming buffer."""
        self.policy.reset()

    @torch.no_grad()
    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """One action (action_dim,) for this control step; plans a new chunk when the queue is empty."""
        action = self.postprocessor(self.policy.select_action(self.to_batch(obs)))
        return _finite_numpy(action[0])

    @torch.no_grad()
    def predict_chunk(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The next n_action_steps actions (n_action_steps, action_dim), for callers that schedule a
        whole chunk themselves. Each value of `obs` is one observation step (repeated over the policy's
        history) or the history itself, (n_obs_steps, *shape) oldest first, 1 / fps apart. The
        streaming head advances its buffer on every call."""
        chunk = self.postprocessor(self.policy.predict_action_chunk(self.to_batch(obs)))
        return _finite_numpy(chunk[0])

    def to_batch(self, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Raw observation -> the normalized batch of one the policy reads (UserError on a missing key,
        a wrong shape, or NaN/inf)."""
        frame = {key: self._to_tensor(key, ft, obs) for key, ft in self.input_features.items()}
        return self.preprocessor(frame)

    def _to_tensor(self, key: str, ft: PolicyFeature, obs: dict[str, np.ndarray]) -> torch.Tensor:
        if key not in obs:
            missing = [k for k in self.input_features if k not in obs]
            raise UserError(f"the observation lacks {', '.join(missing)}")
        arr = np.asarray(obs[key])
        shape = tuple(ft.shape)
        history = arr.ndim == len(shape) + 1 and arr.shape[0] == self.config.n_obs_steps
        if ft.type is FeatureType.VISUAL and arr.shape[-3:-1] == shape[1:]:
            arr = np.moveaxis(arr, -1, -3)  # HWC (env, dataset frames) -> CHW (policy)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255.0
        if tuple(arr.shape[1:] if history else arr.shape) != shape:
            raise UserError(
                f"observation '{key}' has shape {arr.shape}; the policy expects {shape}"
                f" or ({self.config.n_obs_steps}, *{shape}) for its history"
            )
        if not np.isfinite(arr).all():
            raise UserError(f"observation '{key}' contains NaN or inf")
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).unsqueeze(0)


def _finite_numpy(tensor: torch.Tensor) -> np.ndarray:
    out = tensor.detach().cpu().numpy().astype(np.float32)
    if not np.isfinite(out).all():
        raise RuntimeError("the policy produced a non-finite action")
    return out


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when available, else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_policy(
    checkpoint_dir: str | Path,
    device: str = "auto",
    *,
    features: dict[str, Any] | None = None,
    stats: dict[str, dict[str, Any]] | None = None,
    inference_steps: int | None = None,
) -> PolicyRunner:
    """Load a saved simreal policy (config.json, model.safetensors, processors) offline.

    `features` (e.g. `env.unwrapped.features`) and `stats` (a dataset's `meta.stats`), when given,
    must match the checkpoint. `inference_steps` replaces the saved number of sampling steps (network
    calls per chunk of the meanflow and diffusion heads). Raises UserError naming the mismatch, or a
    missing or foreign file.
    """
    path = Path(checkpoint_dir)
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a policy checkpoint (no config.json)")
    try:
        config = PreTrainedConfig.from_pretrained(path)
    except ValueError as err:
        raise UserError(f"{path}: {err}") from err
    if not isinstance(config, SimrealPolicyConfig):
        raise UserError(f"{path} holds a '{config.type}' policy, not one of simreal's")
    config.device = resolve_device(device)
    if inference_steps is not None:
        if not hasattr(config, "num_inference_steps"):
            raise UserError(f"{path}: a {config.type} policy has no number of inference steps to set")
        if inference_steps < 1:
            raise UserError(f"inference steps must be >= 1, got {inference_steps}")
        config.num_inference_steps = inference_steps
    policy_cls = HEADS[config.type.removeprefix("simreal_")][1]
    try:
        policy = policy_cls.from_pretrained(path, config=config, strict=True)
    except RuntimeError as err:
        raise UserError(f"{path}: the weights do not match the checkpoint's config ({err})") from err
    preprocessor, postprocessor = make_pre_post_processors(
        config,
        pretrained_path=str(path),
        preprocessor_overrides={"device_processor": {"device": config.device}},
    )
    problem = stats_mismatch(config, processor_stats(preprocessor))
    if problem:
        raise UserError(f"{path}: the saved processors do not match the policy ({problem})")
    if features is not None:
        problem = schema_mismatch(config, features)
        if problem:
            raise UserError(f"{path}: the checkpoint does not fit these features ({problem})")
    if stats is not None:
        problem = stats_mismatch(config, stats)
        if problem:
            raise UserError(f"{path}: the checkpoint does not fit these statistics ({problem})")
    policy.reset()
    return PolicyRunner(policy, preprocessor, postprocessor)


def schema_mismatch(config: SimrealPolicyConfig, features: dict[str, Any]) -> str | None:
    """A phrase naming the first feature the policy needs that `features` lacks or shapes differently."""
    provided = to_policy_features(features)
    needed = {**config.input_features, **config.output_features}
    missing = [k for k in needed if k not in provided]
    if missing:
        return f"missing {', '.join(missing)}"
    for key, ft in needed.items():
        if tuple(provided[key].shape) != tuple(ft.shape):
            return f"'{key}' has shape {tuple(provided[key].shape)}, the policy expects {tuple(ft.shape)}"
    return None
