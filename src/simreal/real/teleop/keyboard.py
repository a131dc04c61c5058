"""Keyboard teleoperation through a pygame window (which also shows the simulator's view).

Keys (base frame): W/S forward/back (+x/-x), A/D left/right (+y/-y), R/F up/down (+z/-z),
Q/E roll about x, arrow up/down pitch about y, arrow left/right yaw about z; Space toggles the
gripper, Enter saves the episode, Backspace discards it, Esc quits.
"""

from __future__ import annotations

import numpy as np

from simreal.real.teleop.base import TeleopCommand, TeleopDevice
from simreal.real.teleop.window import OperatorWindow, import_pygame


def _bindings(pg) -> dict[int, tuple[str, int, float]]:
    # key -> (translation|rotation, axis, sign)
    return {
        pg.K_w: ("translation", 0, 1.0),
        pg.K_s: ("translation", 0, -1.0),
        pg.K_a: ("translation", 1, 1.0),
        pg.K_d: ("translation", 1, -1.0),
        pg.K_r: ("translation", 2, 1.0),
        pg.K_f: ("translation", 2, -1.0),
        pg.K_q: ("rotation", 0, 1.0),
        pg.K_e: ("rotation", 0, -1.0),
        pg.K_UP: ("rotation", 1, 1.0),
        pg.K_DOWN: ("rotation", 1, -1.0),
        pg.K_LEFT: ("rotation", 2, 1.0),
        pg.K_RIGHT: ("rotation", 2, -1.0),
    }


class KeyboardTeleop(TeleopDevice):
    """Keys held down move the end effector at full speed along their axis; see the module docstring."""

    name = "keyboard"
    help = "W/S A/D R/F move, Q/E arrows rotate, Space gripper, Enter save, Backspace discard, Esc quit"

    def __init__(self):
        self.pg = import_pygame()
        self.window = OperatorWindow("simreal keyboard teleop", self.help)
        self.bindings = _bindings(self.pg)
        self.held: set[int] = set()  # from KEYDOWN/KEYUP events, so injected events count too

    def connect(self) -> None:
        self.window.open()
        self.held.clear()

    def read(self) -> TeleopCommand:
        pg = self.pg
        cmd = TeleopCommand()
        for event in self.window.events():
            if event.type == pg.QUIT:
                cmd.quit = True
            elif event.type == pg.KEYDOWN:
                self.held.add(event.key)
                cmd.gripper_toggle |= event.key == pg.K_SPACE
                cmd.save |= event.key in (pg.K_RETURN, pg.K_KP_ENTER)
                cmd.discard |= event.key == pg.K_BACKSPACE
                cmd.quit |= event.key == pg.K_ESCAPE
            elif event.type == pg.KEYUP:
                self.held.discard(event.key)
        for key in self.held:
            if key in self.bindings:
                kind, axis, sign = self.bindings[key]
                getattr(cmd, kind)[axis] += sign
        cmd.translation, cmd.rotation = np.clip(cmd.translation, -1, 1), np.clip(cmd.rotation, -1, 1)
        return cmd

    def show(self, frame: np.ndarray) -> None:
        self.window.show(frame)

    def close(self) -> None:
        self.window.close()
