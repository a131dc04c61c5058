"""Training telemetry: TensorBoard scalars, a tqdm bar showing the loss, and step timing."""

from __future__ import annotations

import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm


class TrainMetrics:
    """Logs scalars to RUN/tensorboard and keeps the progress bar's postfix current.

    Also records where each step's time goes: `data_s[i]` waiting for the batch, `update_s[i]` in
    forward/backward/optimiser (seconds), so throughput and the data-wait fraction can be reported.
    With `enabled` False (the other ranks of a data-parallel run) it only times.
    """

    def __init__(
        self, run_dir: Path, start_step: int, total_steps: int, log_every: int, enabled: bool = True
    ) -> None:
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard")) if enabled else None
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not enabled,
        )
        self.log_every = max(log_every, 1)
        self.data_s: list[float] = []
        self.update_s: list[float] = []
        self.batch_size = 0
        self._mark = time.perf_counter()

    def data_ready(self) -> None:
        """Call when the batch has arrived (ends the data-wait interval)."""
        now = time.perf_counter()
        self.data_s.append(now - self._mark)
        self._mark = now

    def step_done(
        self, step: int, loss: float, lr: float, batch_size: int, extra: dict | None = None
    ) -> None:
        """Call after the optimiser step of `step` (1-based)."""
        now = time.perf_counter()
        self.update_s.append(now - self._mark)
        self._mark = now
        self.batch_size = batch_size
        self.bar.update(1)
        if step % self.log_every == 0:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.1e}")
            self.scalars(step, {"train/loss": loss, "train/lr": lr, **(extra or {})})

    def mark(self) -> None:
        """Restart the interval clock after work that is neither data nor update (saving, evaluating)."""
        self._mark = time.perf_counter()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            self.writer.add_scalar(name, float(value), step)

    def throughput(self, skip: int = 0) -> tuple[float, float]:
        """(samples/s, fraction of step time waiting for data) over the steps after the first `skip`."""
        data, update = sum(self.data_s[skip:]), sum(self.update_s[skip:])
        steps = len(self.update_s[skip:])
        if data + update <= 0:
            return 0.0, 0.0
        return steps * self.batch_size / (data + update), data / (data + update)

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
