"""What the policy node needs from a trained policy, and the adapter from a simreal checkpoint.

The node only needs ``ChunkRunner``: the checkpoint's features (to check them against the declared
topics), its rate, how many observation steps it reads, and a call from a raw observation dict (numpy,
no batch dimension, dataset feature names; with a leading history axis when n_obs_steps > 1) to a
chunk of actions (T, A) in the dataset's action space. ``controller`` names that action space (the
dataset's "controller": joint_pos, ee_pose or ee_delta; see simreal.real.cartesian_chunks); a runner
without the attribute is joint_pos.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from simreal.errors import UserError

# The dataset sidecar a checkpoint carries (simreal.training.checkpoint.DATASET_META; not imported from
# there because that module imports torch, which the node's own process does not need).
DATASET_META = "simreal_dataset.json"


class ChunkRunner(Protocol):
    features: dict  # LeRobot features of the inputs ("observation.*") and "action": {"shape": ...}
    fps: float  # policy rate in Hz: chunk actions are 1 / fps apart
    n_obs_steps: int  # observation frames per call, 1 / fps apart (values are (n_obs_steps, *shape) if > 1)
    controller: str  # action space: joint_pos (also when absent), ee_pose or ee_delta

    def predict_chunk(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(T, A) float actions; action i is due at obs_time + (i + 1) / fps."""
        ...

    def reset(self) -> None: ...


class CheckpointChunkRunner:
    """ChunkRunner over ``simreal.policies.load_policy``'s PolicyRunner: one planning call per chunk.

    The observation is the policy's n_obs_steps history (the node samples it 1 / fps apart, as the
    dataset's frames were); the chunk is the policy's n_action_steps actions.
    """

    def __init__(self, runner, controller: str = "joint_pos"):
        self.runner = runner
        self.controller = controller
        config = runner.config
        if not config.fps:
            raise UserError("the checkpoint does not record its fps (policy rate)")
        self.fps = float(config.fps)
        self.n_obs_steps = int(config.n_obs_steps)
        self.features = {k: {"shape": tuple(ft.shape)} for k, ft in runner.input_features.items()}
        self.features["action"] = {"shape": tuple(config.output_features["action"].shape)}

    def predict_chunk(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.runner.predict_chunk(obs).astype(np.float64)  # non-finite -> RuntimeError there

    def reset(self) -> None:
        self.runner.reset()


def checkpoint_controller(checkpoint: str | Path) -> str:
    """The action space ("controller") of the dataset a checkpoint directory was trained on, from its
    dataset sidecar. A checkpoint that records none is refused rather than guessed: an ee_pose chunk
    and a joint_pos chunk of a 7-joint arm have the same shape, and sending one as the other moves
    the robot somewhere nobody commanded."""
    path = Path(checkpoint) / DATASET_META
    if not path.is_file():
        raise UserError(
            f"{checkpoint} records no action space ({DATASET_META} is missing, as in lerobot-train "
            f"checkpoints): copy the training dataset's meta/simreal.json there as {DATASET_META}"
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the checkpoint's dataset meta {path}: {exc}") from None
    if not meta.get("controller"):
        raise UserError(f"{path} names no controller (action space): joint_pos, ee_pose or ee_delta")
    return str(meta["controller"])


def load_runner(checkpoint: str, device: str = "cpu", inference_steps: int | None = None) -> ChunkRunner:
    """A ChunkRunner for a simreal checkpoint directory (UserError naming what is wrong with it);
    `inference_steps` replaces the saved sampling steps (``load_policy``'s, None keeps them)."""
    from simreal.policies import load_policy

    policy = load_policy(checkpoint, device=device, inference_steps=inference_steps)
    return CheckpointChunkRunner(policy, checkpoint_controller(checkpoint))
