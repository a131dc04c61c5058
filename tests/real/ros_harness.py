"""Isolated rclpy contexts for tests: a DDS domain per test, an EventsExecutor spinning in a thread.

Every context gets its own ROS_DOMAIN_ID derived from the pid and a counter, with discovery limited to
localhost (set in conftest.py), so parallel helpers and CI runs never hear each other.
"""

import contextlib
import os
import threading
import time
from itertools import count

_domains = count()


def unique_domain_id() -> int:
    # 1..100: valid with Fast DDS's default ports; pid spreads concurrent pytest processes apart.
    return 1 + (os.getpid() * 7 + next(_domains)) % 100


class Ros:
    """An initialised rclpy context with an EventsExecutor: ``add`` nodes, ``start``, then test.

    rclpy's EventsExecutor deadlocks when another thread wakes it while it spins (adding or destroying
    a node does), so every node is added before ``start`` and the spin loop is stopped before teardown.
    """

    def __init__(self):
        import rclpy

        from simreal.real.node_runtime import make_executor

        self.domain_id = unique_domain_id()
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=self.domain_id)
        self.executor = make_executor(context=self.context)
        self.nodes = []
        self._stop = threading.Event()
        self._thread = None

    def add(self, node):
        if self._thread is not None:
            raise RuntimeError("add every node before start()")
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def start(self):
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        from simreal.real.node_runtime import spin

        with contextlib.suppress(Exception):  # shutdown races end the spin
            spin(self.executor, self.context, self._stop, poll=0.05)

    def env(self) -> dict:
        """Environment for a child process on the same domain."""
        return dict(os.environ, ROS_DOMAIN_ID=str(self.domain_id))

    def close(self):
        import rclpy

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.executor.shutdown(timeout_sec=1)
        for node in reversed(self.nodes):
            node.destroy_node()
        rclpy.shutdown(context=self.context)


def wait_for(predicate, timeout: float, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def write_params(path, node_name: str, params: dict) -> str:
    """A ROS 2 parameter file (``<node>: ros__parameters: ...``) as ``--params-file`` reads it."""
    import yaml

    path.write_text(yaml.safe_dump({node_name: {"ros__parameters": params}}))
    return str(path)


@contextlib.contextmanager
def node_process(ros, module: str, params_file: str, timeout: float = 10.0):
    """Run ``python -m <module> --ros-args --params-file <file>`` on ``ros``'s domain; SIGINT at exit."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--ros-args", "--params-file", params_file],
        env=ros.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
