"""Gamepad teleoperation (pygame joystick API, Xbox-style layout as Linux's xpad driver reports it).

Controls (base frame): left stick forward/back and left/right (x, y), right stick up/down (z) and
left/right (yaw about z), D-pad up/down (pitch about y) and left/right (roll about x); A toggles
the gripper, Start saves the episode, B discards it, Back quits. Sticks have a dead zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simreal.errors import UserError
from simreal.real.teleop.base import TeleopCommand, TeleopDevice
from simreal.real.teleop.window import OperatorWindow, import_pygame


@dataclass(frozen=True)
class GamepadLayout:
    """Axis and button numbers of the pad (xpad defaults; other pads differ, pass your own)."""

    left_x: int = 0
    left_y: int = 1
    right_x: int = 3
    right_y: int = 4
    button_gripper: int = 0  # A
    button_discard: int = 1  # B
    button_quit: int = 6  # Back
    button_save: int = 7  # Start
    dead_zone: float = 0.15


class GamepadTeleop(TeleopDevice):
    """Reads the first joystick pygame finds (or `joystick`, any object with pygame's Joystick
    interface). Axis values come from JOYAXISMOTION/JOYHATMOTION events, so the state is exactly
    what the event queue delivered."""

    name = "gamepad"
    help = "sticks move, D-pad rolls/pitches, A gripper, Start save, B discard, Back quit"

    def __init__(self, joystick=None, layout: GamepadLayout | None = None):
        self.pg = import_pygame()
        self.layout = layout or GamepadLayout()
        self.window = OperatorWindow("simreal gamepad teleop", self.help)
        self.joystick = joystick
        self.axes: dict[int, float] = {}
        self.hat = (0, 0)

    def connect(self) -> None:
        pg = self.pg
        self.window.open()
        pg.joystick.init()
        if self.joystick is None:
            if pg.joystick.get_count() == 0:
                self.window.close()
                raise UserError(
                    "no gamepad found: pygame sees no joystick (plug one in; on Linux check "
                    "the permissions of /dev/input/js* and /dev/input/event*)"
                )
            self.joystick = pg.joystick.Joystick(0)
        self.instance_id = self.joystick.get_instance_id()
        self.axes, self.hat = {}, (0, 0)

    def read(self) -> TeleopCommand:
        pg, lay = self.pg, self.layout
        cmd = TeleopCommand()
        for event in self.window.events():
            if event.type == pg.QUIT:
                cmd.quit = True
            if getattr(event, "instance_id", None) != self.instance_id:
                continue
            if event.type == pg.JOYAXISMOTION:
                self.axes[event.axis] = float(event.value)
            elif event.type == pg.JOYHATMOTION and event.hat == 0:
                self.hat = tuple(event.value)
            elif event.type == pg.JOYBUTTONDOWN:
                cmd.gripper_toggle |= event.button == lay.button_gripper
                cmd.save |= event.button == lay.button_save
                cmd.discard |= event.button == lay.button_discard
                cmd.quit |= event.button == lay.button_quit
            elif event.type == pg.JOYDEVICEREMOVED:
                cmd.quit = True
        # Stick "up" reads negative; right reads positive (SDL convention).
        cmd.translation = np.array(
            [-self._axis(lay.left_y), -self._axis(lay.left_x), -self._axis(lay.right_y)]
        )
        cmd.rotation = np.array([-float(self.hat[0]), float(self.hat[1]), -self._axis(lay.right_x)])
        return cmd

    def _axis(self, index: int) -> float:
        value = self.axes.get(index, 0.0)
        if abs(value) < self.layout.dead_zone:
            return 0.0
        # rescale so the output starts at 0 at the dead zone's edge and reaches 1 at full tilt
        return float(np.sign(value) * (abs(value) - self.layout.dead_zone) / (1.0 - self.layout.dead_zone))

    def show(self, frame: np.ndarray) -> None:
        self.window.show(frame)

    def close(self) -> None:
        self.window.close()
