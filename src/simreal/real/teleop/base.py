"""The device-independent half of teleoperation: a command, the device interface, and the expert
that turns commands into "ee_delta" actions.

Frames: translations and rotations are in the robot base frame (x forward, y left, z up, as in
ROS REP 103); a device maps its own axes onto it. Every device axis is normalised to [-1, 1].
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TeleopCommand:
    """One reading of a teleop device.

    translation / rotation: (3,) in [-1, 1], the fraction of full speed along / about base x, y, z.
    gripper_toggle, save, discard, quit: True once per press (edge), not while held.
    """

    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    gripper_toggle: bool = False
    save: bool = False  # the episode is done: keep it
    discard: bool = False  # the episode went wrong: drop it and start the next one
    quit: bool = False  # stop collecting


class TeleopDevice(ABC):
    """A human input device. `connect()` raises UserError naming what is missing when the device
    (or the library behind it) is absent; `read()` never blocks and returns the latest command."""

    name: str = "device"
    help: str = ""  # one line: which control does what

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def read(self) -> TeleopCommand: ...

    def show(self, frame: np.ndarray) -> None:  # noqa: B027 - optional: devices without a window skip it
        """Display the operator's view, uint8 (H, W, 3), where the device has a window."""

    def close(self) -> None:  # noqa: B027 - optional: nothing to release by default
        """Release the device."""

    def __enter__(self) -> TeleopDevice:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TeleopExpert:
    """Acts like a scripted expert (`reset()`, `act(obs)`), but a human decides through `device`.

    Actions are "ee_delta": float32 (7,) = [dx, dy, dz (m), drx, dry, drz (rad, axis-angle, base
    frame), gripper (0 open, 1 closed)]. Full deflection moves `max_step_m` / `max_step_rad` per
    control step (at 20 Hz the defaults are 0.2 m/s and 1 rad/s). After `act`, `verdict` is
    None, or "save" / "discard" / "quit" when the human pressed that control.
    """

    def __init__(
        self,
        device: TeleopDevice,
        view: Callable[[], np.ndarray] | None = None,
        max_step_m: float = 0.01,
        max_step_rad: float = 0.05,
    ):
        self.device = device
        self.view = view
        self.max_step_m = max_step_m
        self.max_step_rad = max_step_rad
        self.reset()

    def reset(self) -> None:
        """Start of an episode: gripper open, no verdict."""
        self.gripper = 0.0
        self.verdict: str | None = None

    def act(self, obs=None) -> np.ndarray:
        """Read the device once and return the action for this control step (`obs` is unused)."""
        if self.view is not None:
            self.device.show(self.view())
        cmd = self.device.read()
        if cmd.gripper_toggle:
            self.gripper = 1.0 - self.gripper
        if cmd.quit:
            self.verdict = "quit"
        elif cmd.save:
            self.verdict = "save"
        elif cmd.discard:
            self.verdict = "discard"
        translation = np.clip(np.asarray(cmd.translation, dtype=float), -1.0, 1.0) * self.max_step_m
        rotation = np.clip(np.asarray(cmd.rotation, dtype=float), -1.0, 1.0) * self.max_step_rad
        return np.concatenate([translation, rotation, [self.gripper]]).astype(np.float32)

    def close(self) -> None:
        self.device.close()
