"""Runs seeded episodes through a running sim_robot_node + policy_node graph, over DDS only.

Per episode: ``/policy_node/stop`` (no commands, the policy forgets its plan), the sim's ``seed``
parameter set, ``/sim/reset``, wait for the first ``/sim/task_status`` of the new episode (its point
cloud and joint states are out by then), ``/policy_node/start``, then watch the task status until it
reports success or ``time_limit`` s of simulated time pass. Every command on
``/<controller>/commands`` is timed on arrival, for the command rate and period jitter at the receiver.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from simreal.errors import UserError


class EpisodeDriver(Node):
    """Client of the graph; its callbacks run on an executor spun by the caller."""

    def __init__(self, controller: str = "forward_position_controller", **node_kwargs):
        super().__init__("simreal_episode_driver", **node_kwargs)
        self.lock = threading.Lock()
        self.status: dict[str, float] = {}
        self.diagnostics: dict[str, float] = {}
        self.command_times: list[float] = []  # perf_counter() of each command received while recording
        self.recording = False
        self.create_subscription(DiagnosticStatus, "/sim/task_status", self._on_status, 10)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.create_subscription(Float64MultiArray, f"/{controller}/commands", self._on_command, 100)
        self.clients_ = {
            "reset": self.create_client(Trigger, "/sim/reset"),
            "start": self.create_client(Trigger, "/policy_node/start"),
            "stop": self.create_client(Trigger, "/policy_node/stop"),
            "seed": self.create_client(SetParameters, "/sim_robot_node/set_parameters"),
        }

    def _on_status(self, msg: DiagnosticStatus) -> None:
        with self.lock:
            self.status = {kv.key: float(kv.value) for kv in msg.values}

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == "simreal/policy_node":
                with self.lock:
                    self.diagnostics = {kv.key: float(kv.value) for kv in status.values}

    def _on_command(self, msg: Float64MultiArray) -> None:
        if self.recording:
            self.command_times.append(time.perf_counter())

    # --- calls ------------------------------------------------------------------------------------

    def wait_ready(self, timeout: float) -> None:
        """Block until every service is up and the sim has published its task status (UserError if not)."""
        deadline = time.monotonic() + timeout
        for name, client in self.clients_.items():
            if not client.wait_for_service(timeout_sec=max(0.1, deadline - time.monotonic())):
                raise UserError(f"closed loop: service for '{name}' did not appear within {timeout:g} s")
        while not self.latest_status() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.latest_status():
            raise UserError(f"closed loop: no /sim/task_status within {timeout:g} s")

    def _call(self, name: str, request, timeout: float = 10.0):
        future = self.clients_[name].call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise UserError(f"closed loop: {name} call timed out after {timeout:g} s")
            time.sleep(0.002)
        return future.result()

    def latest_status(self) -> dict[str, float]:
        with self.lock:
            return dict(self.status)

    def run_episode(self, seed: int, time_limit: float, settle: float = 0.05) -> dict:
        """One episode from ``seed``; {"seed", "success", "sim_seconds", "progress"}."""
        self._call("stop", Trigger.Request())
        value = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=int(seed))
        self._call("seed", SetParameters.Request(parameters=[ParameterMsg(name="seed", value=value)]))
        episode = self.latest_status().get("episode", 0.0)
        self._call("reset", Trigger.Request())
        deadline = time.monotonic() + 10.0
        while self.latest_status().get("episode", 0.0) <= episode:
            if time.monotonic() > deadline:
                raise UserError("closed loop: the sim published no status after its reset")
            time.sleep(0.005)
        status = self.latest_status()
        if int(status["seed"]) != int(seed):
            raise UserError(f"closed loop: the sim reset to seed {status['seed']:.0f}, not {seed}")
        t0 = status["sim_time"]
        time.sleep(settle)  # the post-reset joint states reach the policy's safety layer
        self.recording = True
        self._call("start", Trigger.Request())
        while True:
            time.sleep(0.01)
            status = self.latest_status()
            if status.get("success", 0.0) >= 1.0 or status["sim_time"] - t0 >= time_limit:
                break
        self.recording = False
        self._call("stop", Trigger.Request())
        return {
            "seed": int(seed),
            "success": bool(status.get("success", 0.0) >= 1.0),
            "sim_seconds": float(status["sim_time"] - t0),
            "progress": float(status.get("progress", 0.0)),
        }

    def command_stats(self, rate: float) -> dict[str, float]:
        """Receiver-side command rate (Hz) and period jitter p50/p99 (ms) while episodes ran.

        Gaps between episodes (no commands while stopped) are excluded: only periods < 10 x nominal."""
        periods = np.diff(np.asarray(self.command_times))
        periods = periods[periods < 10.0 / rate]
        if not len(periods):
            return {"command_rate_hz": 0.0, "jitter_p50_ms": float("nan"), "jitter_p99_ms": float("nan")}
        deviation = np.abs(periods - 1.0 / rate) * 1e3
        return {
            "command_rate_hz": float(1.0 / periods.mean()),
            "jitter_p50_ms": float(np.percentile(deviation, 50)),
            "jitter_p99_ms": float(np.percentile(deviation, 99)),
            "commands": int(len(self.command_times)),
        }
