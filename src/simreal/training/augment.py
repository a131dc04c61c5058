"""Scene-shift augmentation: move each training window's whole scene by one random offset in the
table plane.

With absolute TCP-pose actions, where to put the gripper is where the object is, so a policy can
learn positions by heart instead of reading them from the scene. Shifting the point cloud's xyz, the
state's TCP x/y and the action's x/y by the same offset, drawn per window from [-max_shift, max_shift]
metres, makes up scenes that are the same task elsewhere on the table. Joint angles, heights and
orientations are left as they are.

That holds only where the scene shows everything that decides the task: pick_place's pad is drawn
and randomised, push_t's target is a fixed pose no observation shows, so shifting its scene would
teach a moving goal (tasks say which with `goal_in_scene`). Camera images, and vectors whose entries
are not known to be positions (the environment state), cannot be shifted consistently and are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from simreal.datasets.schema import ACTION_KEY, POINTCLOUD_KEY, STATE_KEY
from simreal.errors import UserError

# Base-frame x and y entries by feature (simreal's robot state and TCP-pose action names).
POSITION_NAMES = {STATE_KEY: ("tcp_x", "tcp_y"), ACTION_KEY: ("x", "y")}
# The --obs names of the observations SceneShift can move (anything else is refused).
SHIFTABLE_OBS = frozenset({"state", "pointcloud"})


def task_goal_in_scene(task: str) -> bool:
    """Whether `task` shows everything that decides it in the scene (its class's `goal_in_scene`);
    True for a task simreal does not register (a real robot's data: the user vouches for it)."""
    from simreal.sim.registry import load_tasks

    env_class = load_tasks().get(task)
    return env_class is None or env_class.goal_in_scene


def check_task_allows_shift(task: str | None) -> None:
    """UserError if `task` (a registered simreal task) keeps part of its goal out of the scene."""
    if task is not None and not task_goal_in_scene(task):
        raise UserError(
            f"--shift-augment: {task}'s goal is not part of the observed scene (a fixed pose), so a "
            "shifted scene would teach a goal that moves; use it on tasks such as pick_place"
        )


class SceneShift:
    """Applies the shift to raw (unnormalized) batches of the features it was built for."""

    def __init__(self, max_shift_m: float, features: dict[str, dict]):
        if max_shift_m <= 0:
            raise UserError(f"the scene shift must be > 0 m, got {max_shift_m}")
        self.max_shift_m = max_shift_m
        images = [k for k, ft in features.items() if ft.get("dtype") in ("image", "video")]
        if images:
            raise UserError(
                f"--shift-augment cannot move the scene in camera images ({', '.join(images)}): "
                "train on point clouds and state"
            )
        unknown = [k for k in features if k not in (*POSITION_NAMES, POINTCLOUD_KEY)]
        if unknown:
            raise UserError(
                f"--shift-augment does not know which entries of {', '.join(unknown)} are positions; "
                f"it shifts {POINTCLOUD_KEY}, {STATE_KEY} and {ACTION_KEY} only"
            )
        self.channels = {
            key: _channels(key, features[key].get("names"), names)
            for key, names in POSITION_NAMES.items()
            if key in features
        }
        self.pointcloud = POINTCLOUD_KEY in features

    def __call__(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """A new batch with each window's scene shifted; the input batch is not modified."""
        actions = batch[ACTION_KEY]
        offset = (torch.rand(actions.shape[0], 2) * 2 - 1) * self.max_shift_m  # (B, xy)
        shifted = dict(batch)
        for key, channels in self.channels.items():
            value = batch[key].clone()  # (B, T, D)
            value[..., channels] += offset.unsqueeze(1).to(value)
            shifted[key] = value
        if self.pointcloud:
            cloud = batch[POINTCLOUD_KEY].clone()  # (B, T_o, N, C), xyz first
            cloud[..., :2] += offset.view(-1, 1, 1, 2).to(cloud)
            shifted[POINTCLOUD_KEY] = cloud
        return shifted


def _channels(key: str, names: Sequence[str] | None, wanted: Sequence[str]) -> list[int]:
    """Indices of the `wanted` names in a vector feature's names; UserError if any is missing."""
    names = list(names or ())
    missing = [n for n in wanted if n not in names]
    if missing:
        hint = " (TCP-pose actions: `collect --controller ee_pose`)" if key == ACTION_KEY else ""
        raise UserError(
            f"--shift-augment needs {key} entries named {', '.join(wanted)}{hint}; "
            f"its names are {names or None}"
        )
    return [names.index(n) for n in wanted]
