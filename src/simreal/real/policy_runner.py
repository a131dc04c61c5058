"""What the policy node needs from a trained policy, and the adapter from a simreal checkpoint.

The node only needs ``ChunkRunner``: the checkpoint's features (to check them against the declared
topics), its rate, and a call from one raw observation dict (numpy, no batch dimension, dataset feature
names) to a chunk of actions (T, A) in the dataset's action space.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from simreal.errors import UserError


class ChunkRunner(Protocol):
    features: dict  # LeRobot features of the inputs ("observation.*") and "action"
    fps: float  # policy rate in Hz: chunk actions are 1 / fps apart

    def predict_chunk(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(T, A) float actions for the times obs_time + i / fps."""
        ...

    def reset(self) -> None: ...


def load_runner(checkpoint: str) -> ChunkRunner:
    """A ChunkRunner for a simreal checkpoint directory (through ``simreal.policies.load_policy``)."""
    try:
        from simreal.policies import load_policy
    except ImportError as exc:
        raise UserError(f"cannot load {checkpoint}: no simreal.policies.load_policy ({exc})") from exc
    return load_policy(checkpoint)
