"""Turning Ctrl-C / SIGTERM into a polled flag, so a recording stops between steps and is finalized.

A signal that lands inside `save_episode` would leave half an episode in the parquet and video
files; a flag the collection loop checks after every step cannot. A second Ctrl-C still raises
KeyboardInterrupt for a user who really wants out.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class GracefulStop:
    """Context manager: while active, the first SIGINT or SIGTERM sets `requested` instead of killing.

    Outside the main thread (where Python cannot install handlers) it does nothing and `requested`
    stays False.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, message: str | None = "stopping after the current step; finishing the dataset"):
        self.requested = False
        self.signal_name: str | None = None
        self._message = message
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        if self._message:
            print(f"\n{self.signal_name}: {self._message}", flush=True)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
