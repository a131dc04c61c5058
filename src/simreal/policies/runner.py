"""Loading a checkpoint for inference: `load_policy(dir)` -> a runner that maps one raw observation
(numpy, no batch dimension, the env's feature names) to one raw action. Used by `simreal eval`
and the ROS policy node.

Besides simreal's heads it runs LeRobot's own `diffusion` policy (a `lerobot-train
--policy.type=diffusion` checkpoint), for side-by-side comparisons on the same task."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature, PreTrainedConfig
from lerobot.policies.factory import get_policy_class, make_pre_post_processors
from lerobot.policies.pretrained import PreTrainedPolicy

from simreal.errors import UserError
from simreal.policies.configuration_common import SimrealPolicyConfig
from simreal.policies.configuration_streaming import SimrealStreamingConfig
from simreal.policies.factory import to_policy_features
from simreal.policies.normalization import STATS_USED, as_float32, processor_stats, stats_mismatch

# LeRobot's own policy types load_policy runs besides simreal's heads.
LEROBOT_TYPES = ("diffusion",)


class PolicyRunner:
    """Raw observation dict -> raw action, with the observation history and action queue inside.

    obs: "observation.state" float32 (S,), "observation.images.<cam>" uint8 (H, W, 3),
    "observation.depth.<cam>" float32 (H, W, 1) metres, "observation.pointcloud" float32 (N, 3|6)
    (base frame); only the keys in `input_features` are read. Returns float32 (action_dim,) in the
    dataset's action units (joint targets in rad + gripper in [0, 1] for the joint_pos controller).
    """

    def __init__(self, policy: PreTrainedPolicy, preprocessor, postprocessor):
        self.policy, self.preprocessor, self.postprocessor = policy, preprocessor, postprocessor

    @property
    def config(self) -> PreTrainedConfig:
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
        batch = self.to_batch(obs)
        with self._precision():
            action = self.policy.select_action(batch)
        return _finite_numpy(self.postprocessor(action)[0])

    @torch.no_grad()
    def predict_chunk(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The next n_action_steps actions (n_action_steps, action_dim), for callers that schedule a
        whole chunk themselves. Each value of `obs` is one observation step (repeated over the policy's
        history) or the history itself, (n_obs_steps, *shape) oldest first, 1 / fps apart. The
        streaming head advances its buffer on every call. After `__call__`, reset() first: LeRobot's
        diffusion would otherwise read the history `__call__` queued instead of `obs`."""
        batch = self.to_batch(obs, as_history=True)
        with self._precision():
            chunk = self.policy.predict_action_chunk(batch)
        return _finite_numpy(self.postprocessor(chunk)[0])

    def _precision(self) -> contextlib.AbstractContextManager:
        """LeRobot's own policies run as lerobot-eval runs them: the whole call under autocast (bfloat16
        on a CPU) when their config says use_amp. simreal's heads autocast their image backbones
        themselves."""
        if isinstance(self.config, SimrealPolicyConfig) or not getattr(self.config, "use_amp", False):
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.config.device).type)

    def to_batch(self, obs: dict[str, np.ndarray], as_history: bool = False) -> dict[str, torch.Tensor]:
        """Raw observation -> the normalized batch of one the policy reads (UserError on a missing key,
        a wrong shape, or NaN/inf). `as_history`: every value (1, n_obs_steps, *shape), a single step
        repeated."""
        frame = {key: self._to_tensor(key, ft, obs, as_history) for key, ft in self.input_features.items()}
        return self.preprocessor(frame)

    def _to_tensor(
        self, key: str, ft: PolicyFeature, obs: dict[str, np.ndarray], as_history: bool
    ) -> torch.Tensor:
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
        if as_history and not history:
            arr = np.repeat(arr[None], self.config.n_obs_steps, axis=0)
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).unsqueeze(0)


def _finite_numpy(tensor: torch.Tensor) -> np.ndarray:
    out = tensor.detach().float().cpu().numpy()
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
    action_steps: int | None = None,
) -> PolicyRunner:
    """Load a saved simreal policy or LeRobot `diffusion` policy (config.json, model.safetensors,
    processors) offline.

    `features` (e.g. `env.unwrapped.features`) and `stats` (a dataset's `meta.stats`), when given,
    must match the checkpoint. `inference_steps` replaces the saved number of sampling steps (network
    calls per chunk of the meanflow and diffusion heads, per planning call of the streaming head's
    buffer, LeRobot diffusion's num_inference_steps);
    `action_steps` the saved number of actions executed from each chunk before planning again
    (n_action_steps; not the streaming head's, whose buffer was trained chunk by chunk).
    Raises UserError naming the mismatch, or a missing or foreign file.
    """
    path = Path(checkpoint_dir)
    config = _read_config(path)
    config.device = resolve_device(device)
    if inference_steps is not None:
        _set_inference_steps(path, config, inference_steps)
    if action_steps is not None:
        _set_action_steps(path, config, action_steps)
    try:
        policy = get_policy_class(config.type).from_pretrained(path, config=config, strict=True)
    except RuntimeError as err:
        raise UserError(f"{path}: the weights do not match the checkpoint's config ({err})") from err
    preprocessor, postprocessor = make_pre_post_processors(
        config,
        pretrained_path=str(path),
        preprocessor_overrides={"device_processor": {"device": config.device}},
    )
    saved = processor_stats(preprocessor)
    problem = _stats_problem(config, saved, saved)
    if problem:
        raise UserError(f"{path}: the saved processors do not match the policy ({problem})")
    if features is not None:
        problem = schema_mismatch(config, features)
        if problem:
            raise UserError(f"{path}: the checkpoint does not fit these features ({problem})")
    if stats is not None:
        problem = _stats_problem(config, saved, stats)
        if problem:
            raise UserError(f"{path}: the checkpoint does not fit these statistics ({problem})")
    policy.reset()
    return PolicyRunner(policy, preprocessor, postprocessor)


def _read_config(path: Path) -> PreTrainedConfig:
    """The checkpoint's config: a simreal head's, or one of LEROBOT_TYPES (set never to download a
    pretrained backbone: the trained weights are in model.safetensors)."""
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a policy checkpoint (no config.json)")
    try:
        config = PreTrainedConfig.from_pretrained(path, local_files_only=True)
    except ValueError as err:
        raise UserError(f"{path}: {err}") from err
    if isinstance(config, SimrealPolicyConfig):
        return config
    if config.type not in LEROBOT_TYPES:
        raise UserError(
            f"{path} holds a '{config.type}' policy, not one of simreal's; of LeRobot's own types "
            f"simreal runs {', '.join(LEROBOT_TYPES)}"
        )
    config.pretrained_backbone_weights = None
    return config


def _set_inference_steps(path: Path, config: PreTrainedConfig, steps: int) -> None:
    if isinstance(config, SimrealStreamingConfig):
        # Fewer calls than levels: each call takes every position down several levels at once.
        if not 1 <= steps <= config.levels_per_call:
            raise UserError(
                f"inference steps of a streaming policy must be in [1, {config.levels_per_call}] "
                f"(the noise levels a planning call crosses), got {steps}"
            )
        config.num_inference_calls = steps
        return
    if not hasattr(config, "num_inference_steps"):
        raise UserError(f"{path}: a {config.type} policy has no number of inference steps to set")
    limit = getattr(config, "num_train_timesteps", None)
    if steps < 1 or (limit is not None and steps > limit):
        bound = f"in [1, {limit}] (its training timesteps)" if limit is not None else ">= 1"
        raise UserError(f"inference steps must be {bound}, got {steps}")
    config.num_inference_steps = steps


def _set_action_steps(path: Path, config: PreTrainedConfig, steps: int) -> None:
    if isinstance(config, SimrealStreamingConfig):
        raise UserError(
            f"{path}: the streaming head's buffer advances by the n_action_steps it was trained with "
            f"({config.n_action_steps}); it cannot execute a different number"
        )
    limit = config.horizon - config.n_obs_steps + 1
    if not 1 <= steps <= limit:
        raise UserError(
            f"action steps must be in [1, {limit}] (the actions from the current step on), got {steps}"
        )
    config.n_action_steps = steps


def _stats_problem(
    config: PreTrainedConfig, saved: dict[str, dict[str, Any]], stats: dict[str, dict[str, Any]]
) -> str | None:
    """A phrase naming the first normalized feature whose `stats` do not match the policy: by the
    config's fingerprint for simreal's heads; for LeRobot's configs (no fingerprint) against the
    statistics the saved processors hold (`stats` = `saved` checks that they hold every one).
    LeRobot's camera statistics are left out: lerobot-train replaces them with ImageNet's by default."""
    if isinstance(config, SimrealPolicyConfig):
        return stats_mismatch(config, stats)
    for key, ft in sorted({**config.input_features, **config.output_features}.items()):
        if ft.type is FeatureType.VISUAL:
            continue
        mode = config.normalization_mapping.get(ft.type.value, NormalizationMode.IDENTITY)
        for name in STATS_USED.get(mode, ()):
            if name not in stats.get(key, {}):
                return f"no '{name}' statistic for '{key}'"
            if not np.array_equal(as_float32(saved[key][name]), as_float32(stats[key][name])):
                return f"normalization stats of '{key}' differ"
    return None


def schema_mismatch(config: PreTrainedConfig, features: dict[str, Any]) -> str | None:
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
