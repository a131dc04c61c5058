"""The resolved configuration of one training run, written as JSON next to its outputs."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simreal.errors import UserError

POLICY_KINDS = ("diffusion", "meanflow", "streaming", "lerobot_diffusion")
PRESETS = ("tiny", "small", "paper")
CONFIG_FILENAME = "simreal_train.json"


def recipe_from_args(args: Any) -> dict[str, Any]:
    """TrainConfig's recipe fields from the argparse options --config, --steps, --batch-size, --seed,
    --lr, --warmup-steps, --train-threads and --train-processes that `simreal demo` and the benchmarks
    declare (with their own defaults)."""
    return {
        "preset": args.config,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "lr": args.lr,
        "warmup_steps": args.warmup_steps,
        "threads": args.train_threads,
        "processes": args.train_processes,
    }


@dataclass
class TrainConfig:
    """Everything that determines a training run (the defaults follow Diffusion Policy's recipe).

    `steps` counts optimiser updates; `batch_size` is in samples (one sample = T_o observation steps
    and a T_p-step action window); learning rates are per update.
    """

    policy: str
    dataset: str
    out: str
    obs: tuple[str, ...] = ("state", "pointcloud")
    preset: str = "small"
    steps: int = 2000
    batch_size: int = 64
    device: str = "auto"
    seed: int = 0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.95, 0.999)
    weight_decay: float = 1e-6
    warmup_steps: int = 500
    grad_clip_norm: float = 10.0
    ema_power: float = 0.75
    ema_max_decay: float = 0.9999
    num_workers: int = 0
    # torch's CPU threads for the training step; 0 keeps torch's default (one per core)
    threads: int = 0
    # data-parallel CPU processes, each computing the gradient of 1/processes of every batch
    processes: int = 1
    # scene-shift augmentation (training.augment): max xy offset in metres, 0 = off
    shift_augment_m: float = 0.0
    save_every: int = 0
    log_every: int = 10
    eval_every: int = 0
    eval_episodes: int = 10
    # held-out validation (training.validation): a dataset of other demos, 0 = at every checkpoint
    val_dataset: str | None = None
    val_every: int = 0
    val_windows: int = 256
    policy_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.policy not in POLICY_KINDS:
            raise UserError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICY_KINDS)}")
        if self.preset not in PRESETS:
            raise UserError(f"unknown config {self.preset!r}; choose one of {', '.join(PRESETS)}")
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.processes < 1:
            raise UserError(f"--processes must be >= 1, got {self.processes}")
        if self.batch_size % self.processes:
            raise UserError(
                f"--batch-size {self.batch_size} cannot be split evenly over {self.processes} processes"
            )
        if self.threads < 0:
            raise UserError(f"--threads must be >= 0 (0: torch's default), got {self.threads}")
        if self.shift_augment_m < 0:
            raise UserError(f"--shift-augment must be >= 0 m (0: off), got {self.shift_augment_m}")
        if self.val_every < 0 or self.val_windows < 1:
            raise UserError(
                f"--val-every must be >= 0 and --val-windows >= 1, "
                f"got {self.val_every} and {self.val_windows}"
            )
        if self.val_dataset and self.policy == "lerobot_diffusion":
            raise UserError("--val-dataset validates simreal's heads (diffusion, meanflow, streaming) only")
        self.obs = tuple(self.obs)
        self.betas = tuple(self.betas)

    @property
    def warmup(self) -> int:
        """Warm-up steps actually used: short runs warm up over at most a tenth of their steps."""
        return min(self.warmup_steps, self.steps // 10)

    @property
    def checkpoint_every(self) -> int:
        """Steps between checkpoints (the last step is always saved)."""
        return self.save_every if self.save_every > 0 else max(self.steps // 4, 1)

    @property
    def validate_every(self) -> int:
        """Steps between validations (the last step is always validated)."""
        return self.val_every if self.val_every > 0 else self.checkpoint_every

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, directory: Path) -> Path:
        path = Path(directory) / CONFIG_FILENAME
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, directory: Path) -> TrainConfig:
        path = Path(directory) / CONFIG_FILENAME
        if not path.is_file():
            raise UserError(f"{directory} has no {CONFIG_FILENAME}: not a simreal training checkpoint")
        return cls(**json.loads(path.read_text()))
