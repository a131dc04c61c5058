"""Settings shared by the three generative heads (observation history, horizon, encoders, U-Net,
normalization, optimizer presets). Each head's registered config subclasses this one."""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs import FeatureType, NormalizationMode, PreTrainedConfig
from lerobot.optim import AdamWConfig, DiffuserSchedulerConfig

from simreal.datasets.schema import ACTION_KEY, POINTCLOUD_KEY
from simreal.errors import UserError
from simreal.policies.encoders import encoder_kind

# Channel widths of the U-Net: a CPU-sized one for tests and quick runs, and the papers'.
UNET_PRESETS: dict[str, tuple[int, ...]] = {
    "cpu": (64, 128, 256),
    "paper": (512, 1024, 2048),
    "paper_lowdim": (256, 512, 1024),
}


@dataclass
class SimrealPolicyConfig(PreTrainedConfig):
    """Common configuration (not registered itself; see the per-head subclasses).

    Time layout (Diffusion Policy's): the action window starts at the oldest of the n_obs_steps
    observations and spans `horizon` steps; the n_action_steps executed start at the current step.
    """

    n_obs_steps: int = 2
    horizon: int = 16
    n_action_steps: int = 8
    # Observation features to use; None = every input feature an encoder exists for (state vectors,
    # camera images or depth, the point cloud). Unused dataset features are dropped from the schema.
    obs_keys: list[str] | None = None

    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.MEAN_STD,
            "STATE": NormalizationMode.MIN_MAX,
            "ENV": NormalizationMode.MIN_MAX,
            "ACTION": NormalizationMode.MIN_MAX,
        }
    )
    # DP3 feeds raw xyz (metres, base frame); True min-max scales each channel (xyz, and rgb in a
    # coloured cloud) to [-1, 1] by the dataset's statistics. make demo's MeanFlow and diffusion use it.
    normalize_pointcloud: bool = False

    # Encoders: every feature is embedded to obs_embed_dim per observation step. LeRobot's `use_amp`
    # runs the image backbones in bfloat16 (training and inference); the U-Net and losses stay float32,
    # MeanFlow's d/dt u in particular.
    obs_embed_dim: int = 64
    image_crop_ratio: float = 0.9
    spatial_softmax_num_keypoints: int = 32
    # ResNet-18 stages kept before the spatial softmax (1-4). 4 is Diffusion Policy's backbone, whose
    # 32x downsampling leaves a 3x3 feature map on a 96x96 image; 3 keeps a 6x6 map at 256 channels
    # and drops about a quarter of the backbone's compute.
    image_backbone_stages: int = 4
    # State vectors (the robot's, and an environment state): "mlp" embeds each with DP3's state MLP
    # to obs_embed_dim; "raw" puts the normalized vector itself into the condition, as Diffusion
    # Policy and LeRobot's diffusion policy do.
    state_encoder: str = "mlp"

    # U-Net.
    down_dims: tuple[int, ...] = UNET_PRESETS["paper"]
    kernel_size: int = 5
    n_groups: int = 8
    step_embed_dim: int = 128
    clip_sample: bool = True
    clip_sample_range: float = 1.0
    # Leave action-window positions past the episode's end (LeRobot's action_is_pad) out of the loss.
    # Off by default, as in Diffusion Policy, which trains on the repeated last action there.
    mask_padded_actions: bool = False
    # Start training windows at every frame, the episode's last ones included (their positions past
    # the end repeat its last action). Off by default: like LeRobot and Diffusion Policy, the last
    # horizon - n_action_steps - n_obs_steps + 1 frames start no window, so in demos that end at the
    # moment of success the frames around the release are never an observation the policy learns from.
    train_on_episode_tail: bool = False

    # Execution: None = receding horizon (run n_action_steps, then re-plan); a coefficient m re-plans
    # every step and averages overlapping predictions with weights exp(-m * age_rank).
    temporal_ensemble_coeff: float | None = None

    # Filled in from the dataset when the policy is built (fps of the data, stats fingerprints).
    fps: float | None = None
    stats_fingerprint: dict[str, str] = field(default_factory=dict)

    # Training presets (Diffusion Policy's).
    optimizer_lr: float = 1e-4
    optimizer_betas: tuple[float, float] = (0.95, 0.999)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 1e-6
    scheduler_name: str = "cosine"
    scheduler_warmup_steps: int = 500

    def __post_init__(self):
        super().__post_init__()
        self.down_dims = tuple(self.down_dims)
        if self.n_obs_steps < 1 or self.horizon < 1 or self.n_action_steps < 1:
            raise UserError("n_obs_steps, horizon and n_action_steps must be >= 1")
        if self.n_action_steps > self.horizon - self.n_obs_steps + 1:
            raise UserError(
                f"n_action_steps={self.n_action_steps} exceeds the actions after the current step "
                f"(horizon - n_obs_steps + 1 = {self.horizon - self.n_obs_steps + 1})"
            )
        factor = 2 ** (len(self.down_dims) - 1)
        if self.horizon % factor:
            raise UserError(
                f"horizon={self.horizon} must be a multiple of {factor} for down_dims={self.down_dims}"
            )
        if not 0 < self.image_crop_ratio <= 1:
            raise UserError(f"image_crop_ratio must be in (0, 1], got {self.image_crop_ratio}")
        if self.image_backbone_stages not in (1, 2, 3, 4):
            raise UserError(f"image_backbone_stages must be 1, 2, 3 or 4, got {self.image_backbone_stages}")
        if self.state_encoder not in ("mlp", "raw"):
            raise UserError(f"state_encoder must be 'mlp' or 'raw', got {self.state_encoder!r}")

    @property
    def observation_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, 1))

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, 1 - self.n_obs_steps + self.horizon))

    @property
    def reward_delta_indices(self) -> None:
        return None

    @property
    def drop_n_last_frames(self) -> int:
        """Start frames skipped at each episode's end so most windows are real actions, not padding
        (none with `train_on_episode_tail`)."""
        if self.train_on_episode_tail:
            return 0
        return max(0, self.horizon - self.n_action_steps - self.n_obs_steps + 1)

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(
            lr=self.optimizer_lr,
            betas=self.optimizer_betas,
            eps=self.optimizer_eps,
            weight_decay=self.optimizer_weight_decay,
        )

    def get_scheduler_preset(self) -> DiffuserSchedulerConfig:
        return DiffuserSchedulerConfig(name=self.scheduler_name, num_warmup_steps=self.scheduler_warmup_steps)

    def validate_features(self) -> None:
        """Resolve the observation features the policy uses and check the schema.

        Keeps in `input_features` only the used observation keys (so the saved schema is exactly what
        inference needs). Raises UserError naming missing or unusable features.
        """
        inputs = dict(self.input_features or {})
        if self.action_feature is None:
            raise UserError(f"the features lack '{ACTION_KEY}' (the policy's output)")
        if self.obs_keys is None:
            used = {k: ft for k, ft in inputs.items() if encoder_kind(k, ft) is not None}
        else:
            missing = sorted(set(self.obs_keys) - set(inputs))
            if missing:
                raise UserError(f"the dataset lacks features the policy config needs: {', '.join(missing)}")
            unusable = [k for k in self.obs_keys if encoder_kind(k, inputs[k]) is None]
            if unusable:
                raise UserError(f"no encoder for features {', '.join(unusable)} (shapes not supported)")
            used = {k: inputs[k] for k in self.obs_keys}
        if not used:
            raise UserError(
                "no usable observation feature (need observation.state, observation.images.<cam>, "
                f"observation.depth.<cam> or {POINTCLOUD_KEY})"
            )
        self.input_features = used

    def normalized_observation_keys(self) -> set[str]:
        """Observation keys the processors normalize (the point cloud only if normalize_pointcloud)."""
        keys = set()
        for key, ft in (self.input_features or {}).items():
            mode = self.normalization_mapping.get(ft.type.value, NormalizationMode.IDENTITY)
            if mode is NormalizationMode.IDENTITY or (
                key == POINTCLOUD_KEY and not self.normalize_pointcloud
            ):
                continue
            keys.add(key)
        return keys

    def normalization_modes(self) -> dict[str, NormalizationMode]:
        """Feature key -> normalization mode for every normalized feature (observations and action)."""
        modes = {
            k: self.normalization_mapping[self.input_features[k].type.value]
            for k in self.normalized_observation_keys()
        }
        modes[ACTION_KEY] = self.normalization_mapping.get(
            FeatureType.ACTION.value, NormalizationMode.IDENTITY
        )
        return {k: m for k, m in modes.items() if m is not NormalizationMode.IDENTITY}
