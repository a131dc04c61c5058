"""3Dconnexion SpaceMouse teleoperation through pyspacemouse (6-DoF puck, two buttons).

Axes use pyspacemouse's ROS convention (x forward, y left, z up; roll, pitch, yaw about them),
which maps one to one onto the robot base frame. Left button toggles the gripper, right button
saves the episode, both together discard it; Ctrl-C stops collecting.
"""

from __future__ import annotations

import numpy as np

from simreal.errors import UserError
from simreal.real.teleop.base import TeleopCommand, TeleopDevice


class SpaceMouseTeleop(TeleopDevice):
    """`reader` is anything with `read() -> SpaceMouseState` and `close()`; by default the first
    SpaceMouse pyspacemouse finds. Buttons act on press (edge), not while held."""

    name = "spacemouse"
    help = "push/twist the puck, left button gripper, right button save, both discard"

    def __init__(self, reader=None, dead_zone: float = 0.05):
        self.reader = reader
        self.dead_zone = dead_zone
        self._buttons = (0, 0)

    def connect(self) -> None:
        if self.reader is None:
            self.reader = _open_spacemouse()
        self._buttons = (0, 0)

    def read(self) -> TeleopCommand:
        state = self.reader.read()
        translation = np.array([state.x, state.y, state.z], dtype=float)
        rotation = np.array([state.roll, state.pitch, state.yaw], dtype=float)
        for values in (translation, rotation):
            values[np.abs(values) < self.dead_zone] = 0.0
        raw = [*state.buttons, 0, 0]  # pucks have one to many buttons: use the first two
        buttons = (int(raw[0]), int(raw[1]))
        pressed = [now and not before for now, before in zip(buttons, self._buttons, strict=True)]
        both = all(buttons)
        cmd = TeleopCommand(np.clip(translation, -1, 1), np.clip(rotation, -1, 1))
        if both and any(pressed):
            cmd.discard = True
        elif not both:
            cmd.gripper_toggle, cmd.save = pressed[0], pressed[1]
        self._buttons = buttons
        return cmd

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def _open_spacemouse():
    try:
        import pyspacemouse
        from pyspacemouse.types import AxisConvention
    except ImportError as exc:
        raise UserError("SpaceMouse teleop needs pyspacemouse: pip install 'simreal[teleop]'") from exc
    try:
        device = pyspacemouse.open(axis_convention=AxisConvention.ROS)
    except (RuntimeError, OSError, ValueError) as exc:
        # pyspacemouse raises RuntimeError when the HID library (libhidapi) is missing
        raise UserError(
            f"no SpaceMouse available: {str(exc).splitlines()[0]} (needs libhidapi-hidraw0)"
        ) from exc
    if device is None:
        raise UserError("no SpaceMouse found (is it plugged in, and readable under /dev/hidraw*?)")
    return device
