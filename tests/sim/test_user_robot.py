"""A user-supplied robot MJCF (e.g. a Menagerie checkout) replaces ours when it follows our names."""

from __future__ import annotations

import numpy as np
import pytest

from simreal.errors import UserError
from simreal.sim import ObservationConfig, make_env, panda_mjcf

STATE = ObservationConfig.parse("state")


def standalone_robot_xml(with_camera_and_site: bool = True) -> str:
    """Our arm as a robot-only MJCF file, as a user would supply one."""
    body = panda_mjcf.robot_body_xml()
    if not with_camera_and_site:
        start, end = body.index('<site name="tcp"'), body.index('<body name="left_finger"')
        body = body[:start] + body[end:]
    return (
        '<mujoco model="user_arm"><compiler angle="radian" autolimits="true"/>'
        f"<default>{panda_mjcf.defaults_xml()}</default><asset>{panda_mjcf.assets_xml()}</asset>"
        f"<worldbody>{body}</worldbody><actuator>{panda_mjcf.actuators_xml()}</actuator>"
        f"<equality>{panda_mjcf.equality_xml()}</equality></mujoco>"
    )


@pytest.mark.parametrize("with_camera_and_site", [True, False])
def test_user_robot_matches_ours(tmp_path, with_camera_and_site):
    path = tmp_path / "arm.xml"
    path.write_text(standalone_robot_xml(with_camera_and_site))
    ours = make_env("pick_place", obs=STATE)
    theirs = make_env("pick_place", obs=STATE, robot_mjcf=str(path))
    obs_ours, _ = ours.reset(seed=4)
    obs_theirs, _ = theirs.reset(seed=4)
    # The tcp site and wrist camera are added where the file lacks them, at the same place.
    np.testing.assert_allclose(obs_theirs["observation.state"], obs_ours["observation.state"], atol=1e-6)
    np.testing.assert_allclose(theirs.camera_pose("wrist"), ours.camera_pose("wrist"), atol=1e-6)
    expert = theirs.make_expert(np.random.default_rng(0))
    for _ in range(theirs.max_episode_steps):
        _, _, terminated, truncated, info = theirs.step(expert.act(None))
        if terminated or truncated:
            break
    assert info["success"]


def test_bad_user_robot(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        make_env("pick_place", obs=STATE, robot_mjcf=str(tmp_path / "missing.xml"))
    wrong = tmp_path / "wrong.xml"
    wrong.write_text(standalone_robot_xml().replace('name="joint3"', 'name="panda_joint3"'))
    with pytest.raises(UserError, match="lacks joint3"):
        make_env("pick_place", obs=STATE, robot_mjcf=str(wrong))
    broken = tmp_path / "broken.xml"
    broken.write_text("<mujoco><worldbody><body")
    with pytest.raises(UserError, match="cannot read robot MJCF"):
        make_env("pick_place", obs=STATE, robot_mjcf=str(broken))
