"""What every simreal node shares: declared parameters, the executor, and the console-script main.

Parameters are declared from one table per node (name -> (default or type, description)) so that the
launch-file test can check every parameter a YAML names against what the node really declares.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from simreal.errors import UserError

log = logging.getLogger(__name__)

# name -> (default value, or a Parameter.Type for a required parameter; description)
ParameterTable = dict[str, tuple[object, str]]


def declare_parameters(node: Node, table: ParameterTable) -> dict:
    """Declare every parameter of ``table`` on ``node`` and return their values by name.

    A parameter whose default is a ``Parameter.Type`` is required: missing -> UserError naming it.
    """
    values = {}
    for name, (default, description) in table.items():
        descriptor = ParameterDescriptor(description=description)
        node.declare_parameter(name, default, descriptor)
        value = node.get_parameter(name).value
        if value is None:
            raise UserError(f"{node.get_name()}: parameter '{name}' is required ({description})")
        values[name] = value
    return values


def set_thread_priority(priority: int) -> bool:
    """Give the calling thread SCHED_FIFO at ``priority`` (1-99; 0 leaves it alone). False, with a
    warning, where the OS refuses (no root, CAP_SYS_NICE or rtprio limit): it then runs as before."""
    if priority <= 0:
        return False
    try:  # pid 0 = the calling thread on Linux
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (OSError, AttributeError) as exc:
        log.warning("SCHED_FIFO %d refused (%s): normal priority", priority, exc)
        return False


def make_executor(context=None):
    """rclpy's EventsExecutor: it holds 500 Hz timers on 2 cores where the stock executors miss ticks."""
    import contextlib
    import sys

    from rclpy.experimental import EventsExecutor

    # Its constructor calls faulthandler.enable(), which needs a real file descriptor behind
    # sys.stderr; notebooks and captured output (pytest capsys) replace it with one that has none.
    try:
        sys.stderr.fileno()
        redirect = contextlib.nullcontext()
    except (AttributeError, OSError, ValueError):
        redirect = contextlib.redirect_stderr(sys.__stderr__)
    with redirect:
        return EventsExecutor(context=context)


def spin(executor, context=None, stop: threading.Event | None = None, poll: float = 0.1) -> None:
    """Spin ``executor`` until the context shuts down (Ctrl-C) or ``stop`` is set.

    A ``spin_once`` loop, because in rclpy 9.1 (kilted, PyPI) ``EventsExecutor.spin()`` never fires
    timers, and waking it from another thread (adding or destroying a node, shutting the context down)
    while it blocks deadlocks: callers stop this loop before tearing anything down.
    """
    context = context or rclpy.get_default_context()
    while context.ok() and not (stop is not None and stop.is_set()):
        executor.spin_once(timeout_sec=poll)


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Console-script body: init rclpy (ROS args such as --params-file honoured), build, spin, clean up.

    SIGINT and SIGTERM end the spin loop between callbacks (rclpy's own handlers would invalidate the
    context in the middle of a callback), then the node is torn down in order. Returns the exit code.
    """
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    node = executor = None
    try:
        node = factory()
        set_thread_priority(getattr(node, "spin_priority", 0))  # this thread runs its callbacks
        executor = make_executor()
        executor.add_node(node)
        spin(executor, stop=stop)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


__all__ = [
    "Parameter",
    "ParameterTable",
    "declare_parameters",
    "make_executor",
    "run_node",
    "set_thread_priority",
    "spin",
]
