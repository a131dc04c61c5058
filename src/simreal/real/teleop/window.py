"""A pygame window for the operator: shows the simulator's view and receives keyboard and gamepad events.

pygame is imported lazily: only teleoperation needs it. Without a display, SDL's "dummy" video
driver (SDL_VIDEODRIVER=dummy) still gives a working event queue, which the tests use.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from simreal.errors import UserError


def import_pygame():
    """pygame, imported quietly; UserError if it is not installed."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        with warnings.catch_warnings():  # pygame 2.6 imports the deprecated pkg_resources
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            import pygame
    except ImportError as exc:
        raise UserError("teleoperation needs pygame: pip install 'simreal[teleop]'") from exc
    return pygame


class OperatorWindow:
    """Opens a window of `size` (W, H) pixels titled `title`, with `help` shown under the view."""

    def __init__(self, title: str, help: str, size: tuple[int, int] = (640, 520)):
        self.pg = import_pygame()
        self.title, self.help, self.size = title, help, size
        self.surface = None

    def open(self) -> None:
        pg = self.pg
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        if headless and not os.environ.get("SDL_VIDEODRIVER"):
            # SDL would fall back to its EGL "offscreen" driver, whose context fights MuJoCo's EGL
            # renderer; refuse instead, and let headless runs opt in to the event-only driver.
            raise UserError(
                f"{self.title} needs a display for its window: set DISPLAY (X11) or WAYLAND_DISPLAY, "
                "or SDL_VIDEODRIVER=dummy for a headless run"
            )
        try:
            pg.display.init()
            pg.font.init()
            self.surface = pg.display.set_mode(self.size)
        except pg.error as exc:
            raise UserError(
                f"{self.title} needs a display for its window ({exc}); set DISPLAY, or "
                "SDL_VIDEODRIVER=dummy for a headless run"
            ) from exc
        pg.display.set_caption(self.title)

    def events(self) -> list:
        """Every pending pygame event (keyboard, joystick, window close)."""
        return self.pg.event.get()

    def show(self, frame: np.ndarray) -> None:
        """Draw the uint8 (H, W, 3) view scaled to the window, and the help line below it."""
        if self.surface is None:
            return
        pg = self.pg
        width, height = self.size
        image = pg.surfarray.make_surface(np.ascontiguousarray(np.swapaxes(frame[..., :3], 0, 1)))
        self.surface.fill((0, 0, 0))
        self.surface.blit(pg.transform.scale(image, (width, height - 40)), (0, 0))
        font = pg.font.Font(None, 20)
        self.surface.blit(font.render(self.help, True, (230, 230, 230)), (8, height - 30))
        pg.display.flip()

    def close(self) -> None:
        if self.surface is not None:
            self.pg.display.quit()
            self.surface = None
