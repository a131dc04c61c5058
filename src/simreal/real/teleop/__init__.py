"""Teleoperation devices (keyboard, gamepad, SpaceMouse) behind one small interface.

    expert = make_teleop_expert("keyboard", view=env.unwrapped.render)
    action = expert.act(obs)          # float32 (7,) ee_delta action
    expert.verdict                    # None, "save", "discard" or "quit"

Devices import their libraries (pygame, pyspacemouse) lazily and raise UserError naming what is
missing when the hardware or library is not there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simreal.errors import UserError
from simreal.real.teleop.base import TeleopCommand, TeleopDevice, TeleopExpert
from simreal.real.teleop.gamepad import GamepadLayout, GamepadTeleop
from simreal.real.teleop.keyboard import KeyboardTeleop
from simreal.real.teleop.spacemouse import SpaceMouseTeleop

DEVICES: dict[str, type[TeleopDevice]] = {
    "keyboard": KeyboardTeleop,
    "gamepad": GamepadTeleop,
    "spacemouse": SpaceMouseTeleop,
}


def make_teleop_expert(
    kind: str, view: Callable[[], np.ndarray] | None = None, **expert_kwargs
) -> TeleopExpert:
    """Connect the `kind` device ("keyboard", "gamepad", "spacemouse") and wrap it in a TeleopExpert.

    `view` returns the operator's image (e.g. `env.unwrapped.render`); devices with a window show it
    every step. Raises UserError when the device is unknown or absent.
    """
    if kind not in DEVICES:
        raise UserError(f"unknown teleop device {kind!r}; choose one of {', '.join(DEVICES)}")
    device = DEVICES[kind]()
    device.connect()
    print(f"{kind} teleop: {device.help}")
    return TeleopExpert(device, view=view, **expert_kwargs)


__all__ = [
    "DEVICES",
    "GamepadLayout",
    "GamepadTeleop",
    "KeyboardTeleop",
    "SpaceMouseTeleop",
    "TeleopCommand",
    "TeleopDevice",
    "TeleopExpert",
    "make_teleop_expert",
]
