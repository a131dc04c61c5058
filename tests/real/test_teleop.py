"""Teleoperation devices: the real mapping code driven by synthetic input.

Keyboard and gamepad events are injected into pygame's real event queue (SDL dummy video driver);
the SpaceMouse hardware is replaced by a reader returning pyspacemouse's own SpaceMouseState.
"""

import os
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("MUJOCO_GL", "egl")

pygame = pytest.importorskip("pygame")

from simreal.errors import UserError  # noqa: E402
from simreal.real.teleop import (  # noqa: E402
    GamepadTeleop,
    KeyboardTeleop,
    SpaceMouseTeleop,
    TeleopExpert,
    make_teleop_expert,
)


def key(kind, k):
    pygame.event.post(pygame.event.Event(kind, key=k, mod=0, unicode="", scancode=0))


@pytest.fixture
def keyboard():
    device = KeyboardTeleop()
    device.connect()
    yield device
    device.close()


def test_keyboard_maps_held_keys_and_edges(keyboard):
    expert = TeleopExpert(keyboard, view=lambda: np.zeros((48, 64, 3), np.uint8))
    key(pygame.KEYDOWN, pygame.K_w)
    key(pygame.KEYDOWN, pygame.K_d)
    key(pygame.KEYDOWN, pygame.K_LEFT)
    action = expert.act()
    np.testing.assert_allclose(action, [0.01, -0.01, 0, 0, 0, 0.05, 0], atol=1e-7)
    assert action.dtype == np.float32 and expert.verdict is None
    np.testing.assert_allclose(expert.act()[:6], action[:6])  # still held
    key(pygame.KEYUP, pygame.K_w)
    key(pygame.KEYUP, pygame.K_d)
    key(pygame.KEYUP, pygame.K_LEFT)
    key(pygame.KEYDOWN, pygame.K_SPACE)
    action = expert.act()
    np.testing.assert_allclose(action, [0, 0, 0, 0, 0, 0, 1], atol=1e-7)
    assert expert.act()[6] == 1.0  # the toggle acts once per press, the gripper stays closed
    key(pygame.KEYDOWN, pygame.K_BACKSPACE)
    expert.act()
    assert expert.verdict == "discard"
    expert.reset()
    assert expert.verdict is None and expert.gripper == 0.0
    key(pygame.KEYDOWN, pygame.K_RETURN)
    expert.act()
    assert expert.verdict == "save"
    key(pygame.KEYDOWN, pygame.K_ESCAPE)
    expert.act()
    assert expert.verdict == "quit"


class FakeJoystick:
    """Stands in for the pad's hardware handle only: the events carry its instance id."""

    def get_instance_id(self):
        return 7


def joy(kind, **fields):
    pygame.event.post(pygame.event.Event(kind, instance_id=7, joy=0, **fields))


def test_gamepad_maps_sticks_hat_and_buttons():
    device = GamepadTeleop(joystick=FakeJoystick())
    device.connect()
    try:
        joy(pygame.JOYAXISMOTION, axis=1, value=-1.0)  # left stick fully up: forward
        joy(pygame.JOYAXISMOTION, axis=0, value=0.1)  # inside the dead zone
        joy(pygame.JOYAXISMOTION, axis=4, value=0.575)  # right stick half down
        joy(pygame.JOYHATMOTION, hat=0, value=(1, 0))  # D-pad right
        joy(pygame.JOYBUTTONDOWN, button=0)  # A: gripper
        pygame.event.post(pygame.event.Event(pygame.JOYAXISMOTION, instance_id=3, joy=1, axis=1, value=1.0))
        cmd = device.read()
        np.testing.assert_allclose(cmd.translation, [1.0, 0.0, -0.5], atol=1e-6)
        np.testing.assert_allclose(cmd.rotation, [-1.0, 0.0, 0.0])
        assert cmd.gripper_toggle and not cmd.save
        joy(pygame.JOYBUTTONDOWN, button=7)  # Start: save
        cmd = device.read()
        assert cmd.save and not cmd.gripper_toggle
        np.testing.assert_allclose(cmd.translation, [1.0, 0.0, -0.5], atol=1e-6)  # axes keep their state
    finally:
        device.close()


def test_gamepad_absent_is_a_clear_error():
    pygame.joystick.init()
    if pygame.joystick.get_count():
        pytest.skip("a real joystick is connected")
    with pytest.raises(UserError, match="no gamepad found"):
        GamepadTeleop().connect()


class FakeSpaceMouse:
    """The puck's HID reader, replaced by a queue of pyspacemouse SpaceMouseState readings."""

    def __init__(self, states):
        self.states = list(states)
        self.closed = False

    def read(self):
        return self.states.pop(0)

    def close(self):
        self.closed = True


def test_spacemouse_maps_axes_and_button_edges():
    from pyspacemouse.types import ButtonState, SpaceMouseState

    def state(buttons, **axes):
        return SpaceMouseState(buttons=ButtonState(buttons), **axes)

    reader = FakeSpaceMouse(
        [
            state([1, 0], x=0.5, y=-0.02, z=1.0, yaw=-0.4),  # left button pressed: gripper
            state([1, 0], x=0.5),  # still held: no second toggle
            state([0, 1]),  # right button: save
            state([1, 1]),  # both: discard
        ]
    )
    device = SpaceMouseTeleop(reader=reader)
    device.connect()
    expert = TeleopExpert(device)
    action = expert.act()
    np.testing.assert_allclose(action, [0.005, 0, 0.01, 0, 0, -0.02, 1.0], atol=1e-7)
    assert expert.act()[6] == 1.0
    expert.act()
    assert expert.verdict == "save"
    expert.reset()
    expert.act()
    assert expert.verdict == "discard"
    expert.close()
    assert reader.closed


def test_spacemouse_absent_is_a_clear_error():
    with pytest.raises(UserError, match="SpaceMouse"):
        SpaceMouseTeleop().connect()


def test_keyboard_without_display_is_a_clear_error(monkeypatch):
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserError, match="needs a display"):
        KeyboardTeleop().connect()


def test_unknown_device():
    with pytest.raises(UserError, match="unknown teleop device"):
        make_teleop_expert("joystick9000")


def test_keyboard_teleop_collects_an_ee_delta_episode(tmp_path, monkeypatch):
    """`collect --expert keyboard` end to end: a human (injected keys) drives pick_place and saves."""
    from simreal.collect import CollectConfig, collect
    from simreal.datasets import read_episode_columns, read_simreal_meta
    from simreal.sim import ObservationConfig

    reads = []  # a spy on the real read(): the operator paces its keys by control steps, not seconds
    real_read = KeyboardTeleop.read
    monkeypatch.setattr(KeyboardTeleop, "read", lambda self: reads.append(1) or real_read(self))

    def wait_steps(n):
        target, deadline = len(reads) + n, time.monotonic() + 120
        while len(reads) < target and time.monotonic() < deadline:
            time.sleep(0.01)

    def operator():
        wait_steps(1)
        key(pygame.KEYDOWN, pygame.K_r)  # up, held to the end
        wait_steps(4)
        key(pygame.KEYDOWN, pygame.K_SPACE)  # close the gripper
        wait_steps(4)
        key(pygame.KEYDOWN, pygame.K_RETURN)  # save

    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    out = tmp_path / "teleop"
    cfg = CollectConfig(
        "pick_place", 1, out, ObservationConfig.parse("state"), controller="ee_delta", expert="keyboard"
    )
    result = collect(cfg, progress=False)
    thread.join(timeout=5)
    assert result.saved == 1
    meta = read_simreal_meta(out)
    assert meta["controller"] == "ee_delta" and meta["expert"] == {
        "kind": "keyboard",
        "post_success_steps": 0,
    }
    actions = read_episode_columns(out, 0, ["action"])["action"]
    assert actions.shape[1] == 7 and 8 <= len(actions) <= 12
    assert actions[0, 2] == 0.0 and np.allclose(actions[-4:, 2], 0.01)  # R held: +z at full speed
    assert actions[0, 6] == 0.0 and actions[-1, 6] == 1.0  # gripper toggled during the episode
