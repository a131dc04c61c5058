"""Training telemetry: TensorBoard scalars, a tqdm bar showing the loss, and step timing."""

from __future__ import annotations

import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm


class TrainMetrics:
    """Logs scalars to RUN/tensorboard and keeps the progress bar's postfix current.

    Also accumulates where the step time goes: `data_s` waiting for the next batch, `update_s` in
    forward/backward/optimiser, so the fraction of time spent waiting for data can be reported.
    """

    def __init__(self, run_dir: Path, start_step: int, total_steps: int, log_every: int) -> None:
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
        self.log_every = max(log_every, 1)
        self.data_s = 0.0
        self.update_s = 0.0
        self.samples = 0
        self._mark = time.perf_counter()

    def data_ready(self) -> None:
        """Call when the batch has arrived (ends the data-wait interval)."""
        now = time.perf_counter()
        self.data_s += now - self._mark
        self._mark = now

    def step_done(
        self, step: int, loss: float, lr: float, batch_size: int, extra: dict | None = None
    ) -> None:
        """Call after the optimiser step of `step` (1-based)."""
        now = time.perf_counter()
        self.update_s += now - self._mark
        self._mark = now
        self.samples += batch_size
        self.bar.update(1)
        if step % self.log_every == 0:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.1e}")
            self.scalars(step, {"train/loss": loss, "train/lr": lr, **(extra or {})})

    def mark(self) -> None:
        """Restart the interval clock after work that is neither data nor update (saving, evaluating)."""
        self._mark = time.perf_counter()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, float(value), step)

    @property
    def data_fraction(self) -> float:
        """Fraction of step time spent waiting for data since the start."""
        total = self.data_s + self.update_s
        return self.data_s / total if total > 0 else 0.0

    @property
    def samples_per_s(self) -> float:
        total = self.data_s + self.update_s
        return self.samples / total if total > 0 else 0.0

    def close(self) -> None:
        self.bar.close()
        self.writer.close()
