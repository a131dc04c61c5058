"""A ChunkRunner whose policy lives in a child process, so inference never holds the node's GIL.

In one process the control thread needs the GIL at every tick; an inference thread holds it between
torch ops, and on a loaded machine the OS can preempt that thread while it holds it, delaying the tick
by a whole time slice (measured: p99 8 ms, max 190 ms at 100 Hz on 2 shared cores, even with the control
thread at SCHED_FIFO). Here the node's side only pickles the observation (a few kB) and waits on a pipe
with the GIL released; the child loads the checkpoint and runs ``predict_chunk``.
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from simreal.errors import UserError

from .policy_runner import checkpoint_controller


def _serve(conn, checkpoint: str, device: str, torch_threads: int, inference_steps: int | None) -> None:
    """Child process: load the checkpoint, then answer ("predict", obs) and ("reset",) until EOF."""
    import signal

    import torch

    from .policy_runner import load_runner

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the node, which closes the pipe
    torch.set_num_threads(max(1, torch_threads))
    try:
        runner = load_runner(checkpoint, device, inference_steps)
    except UserError as exc:
        conn.send(("user_error", str(exc)))
        return
    try:
        conn.send(("ready", (runner.features, runner.fps, runner.n_obs_steps)))
        while True:
            request = conn.recv()
            try:
                if request[0] == "predict":
                    reply = ("ok", runner.predict_chunk(request[1]))
                else:
                    runner.reset()
                    reply = ("ok", None)
            except Exception as exc:  # reported to the caller, which counts it
                reply = ("error", repr(exc))
            conn.send(reply)
    except (EOFError, OSError):  # the node closed the pipe or exited
        return


class ProcessChunkRunner:
    """ChunkRunner for a checkpoint directory, run in a spawned child process (``close`` ends it).

    Calls come from one thread at a time (the InferenceWorker; ``reset`` from a service callback is
    serialised with it by a lock)."""

    def __init__(
        self,
        checkpoint: str,
        device: str = "cpu",
        torch_threads: int = 1,
        inference_steps: int | None = None,
        timeout: float = 300.0,
    ):
        import threading

        self.controller = checkpoint_controller(checkpoint)  # before the child: a bad meta leaks nothing
        ctx = mp.get_context("spawn")  # no forked DDS, EGL or torch thread state in the child
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve,
            args=(child, checkpoint, device, torch_threads, inference_steps),
            name="simreal-policy",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._lock = threading.Lock()
        if not self._conn.poll(timeout):
            self.close()
            raise UserError(f"the policy process did not load {checkpoint} within {timeout:g} s")
        kind, payload = self._conn.recv()
        if kind == "user_error":
            self.close()
            raise UserError(payload)
        self.features, self.fps, self.n_obs_steps = payload

    def _call(self, request):
        with self._lock:
            self._conn.send(request)
            kind, payload = self._conn.recv()
        if kind != "ok":
            raise RuntimeError(f"policy process: {payload}")
        return payload

    def predict_chunk(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(T, A) actions from the child's policy (see CheckpointChunkRunner.predict_chunk)."""
        return self._call(("predict", obs))

    def reset(self) -> None:
        self._call(("reset",))

    def close(self) -> None:
        self._conn.close()
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
