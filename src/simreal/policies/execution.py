"""How predicted action chunks become one action per control step: the observation history, the
receding-horizon action queue, and ACT-style temporal ensembling."""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor


class ObservationHistory:
    """The last n_obs_steps observations per key; after a reset the first one is repeated."""

    def __init__(self, n_obs_steps: int):
        self.n_obs_steps = n_obs_steps
        self._steps: deque[dict[str, Tensor]] = deque(maxlen=n_obs_steps)

    def reset(self) -> None:
        self._steps.clear()

    def push(self, observation: dict[str, Tensor]) -> dict[str, Tensor]:
        """Add one step ((B, *shape) per key); return the stacked history ((B, T_o, *shape) per key)."""
        while len(self._steps) < self.n_obs_steps - 1:
            self._steps.append(observation)
        self._steps.append(observation)
        return {key: torch.stack([step[key] for step in self._steps], dim=1) for key in observation}


class ActionQueue:
    """Receding horizon: execute the first n_action_steps of a chunk, then plan again."""

    def __init__(self):
        self._actions: deque[Tensor] = deque()

    def reset(self) -> None:
        self._actions.clear()

    def empty(self) -> bool:
        return not self._actions

    def extend(self, chunk: Tensor) -> None:
        """chunk (B, n, A) -> n queued actions of shape (B, A)."""
        self._actions.extend(chunk.transpose(0, 1))

    def pop(self) -> Tensor:
        return self._actions.popleft()


class TemporalEnsembler:
    """Averages every chunk's prediction for the current step (ACT, Zhao et al.).

    Called once per step with the chunk predicted from the current observation; the prediction made
    i steps ago gets weight exp(-coeff * i_rank) where the oldest prediction has rank 0, as in ACT
    (coeff > 0 favours older predictions, which smooths the motion).
    """

    def __init__(self, coeff: float, chunk_size: int):
        self.weights = torch.exp(-coeff * torch.arange(chunk_size, dtype=torch.float32))
        self.cum_weights = torch.cumsum(self.weights, dim=0)
        self.reset()

    def reset(self) -> None:
        self._ensembled: Tensor | None = None
        self._counts: Tensor | None = None

    def update(self, chunk: Tensor) -> Tensor:
        """chunk (B, chunk_size, A) predicted now -> the action (B, A) to execute now."""
        w, cw = self.weights.to(chunk.device), self.cum_weights.to(chunk.device)
        if self._ensembled is None:
            self._ensembled = chunk.clone()
            self._counts = torch.ones(chunk.shape[1], dtype=torch.long, device=chunk.device)
        else:
            counts = self._counts
            previous = self._ensembled * cw[counts - 1, None]
            self._ensembled = (previous + chunk[:, :-1] * w[counts, None]) / cw[counts, None]
            self._counts = torch.clamp(counts + 1, max=chunk.shape[1] - 1)
            self._ensembled = torch.cat([self._ensembled, chunk[:, -1:]], dim=1)
            self._counts = torch.cat([self._counts, self._counts.new_ones(1)])
        action = self._ensembled[:, 0]
        self._ensembled, self._counts = self._ensembled[:, 1:], self._counts[1:]
        return action
