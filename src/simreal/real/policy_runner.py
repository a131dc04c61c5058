"""What the policy node needs from a trained policy, and the adapter from a simreal checkpoint.

The node only needs ``ChunkRunner``: the checkpoint's features (to check them against the declared
topics), its rate, how many observation steps it reads, and a call from a raw observation dict (numpy,
no batch dimension, dataset feature names; with a leading history axis when n_obs_steps > 1) to a
chunk of actions (T, A) in the dataset's action space.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from simreal.errors import UserError


class ChunkRunner(Protocol):
    features: dict  # LeRobot features of the inputs ("observation.*") and "action": {"shape": ...}
    fps: float  # policy rate in Hz: chunk actions are 1 / fps apart
    n_obs_steps: int  # observation frames per call, 1 / fps apart (values are (n_obs_steps, *shape) if > 1)

    def predict_chunk(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(T, A) float actions for the times obs_time + i / fps."""
        ...

    def reset(self) -> None: ...


class CheckpointChunkRunner:
    """ChunkRunner over ``simreal.policies.load_policy``'s PolicyRunner: one planning call per chunk.

    The observation is the policy's n_obs_steps history (the node samples it 1 / fps apart, as the
    dataset's frames were); the chunk is the policy's n_action_steps actions.
    """

    def __init__(self, runner):
        self.runner = runner
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


def load_runner(checkpoint: str, device: str = "cpu") -> ChunkRunner:
    """A ChunkRunner for a simreal checkpoint directory (UserError naming what is wrong with it)."""
    from simreal.policies import load_policy

    return CheckpointChunkRunner(load_policy(checkpoint, device=device))
