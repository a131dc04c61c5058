"""Scene-shift augmentation: move each training window's whole scene by one random offset in the
table plane.

With absolute TCP-pose actions, where to put the gripper is where the object is, so a policy can
learn positions by heart instead of reading them from the scene. Shifting the point cloud's xyz, the
state's TCP x/y and the action's x/y by the same offset, drawn per window from [-max_shift, max_shift]
metres, makes up scenes that are the same task elsewhere on the table. Joint angles, heights and
orientations are left as they are.

That holds only where the scene shows everything that decides the task: pick_place's pad is drawn
and randomised, push_t's target is a fixed pose no observation shows, so shifting its scene would
teach a moving goal (tasks say which with `goal_in_scene`). Vectors whose entries are not known to
be positions (the environment state) cannot be shifted consistently and are refused.

Camera images are moved approximately, from the simulated cameras' calibration: a camera fixed in the
world sees the table-top scene translate, by the pixels the offset makes at the middle of the robot's
workspace on the table (one translation per image: exact for a table-plane point there, off by a
pixel or so elsewhere for 4 cm, and the robot's base moves with it); a camera on the robot (the wrist
camera) moves with the TCP, so its image is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from simreal.datasets.schema import ACTION_KEY, IMAGE_PREFIX, POINTCLOUD_KEY, STATE_KEY
from simreal.errors import UserError

# Base-frame x and y entries by feature (simreal's robot state and TCP-pose action names).
POSITION_NAMES = {STATE_KEY: ("tcp_x", "tcp_y"), ACTION_KEY: ("x", "y")}
# The --obs names of the observations make demo shifts by default (SceneShift also moves camera images,
# approximately; no default recipe uses that).
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


def image_keys(features: dict[str, dict]) -> list[str]:
    return [k for k, ft in features.items() if ft.get("dtype") in ("image", "video")]


def scene_image_motion(sidecar: dict | None, features: dict[str, dict]) -> dict[str, np.ndarray | None]:
    """How the scene shift moves each camera image of `features`: a 2x2 pixels-per-metre matrix for
    a camera fixed in the world, None for one on the robot. Computed from the simulated task's
    cameras (`sidecar`: the dataset's meta/simreal.json); {} when `features` has no images."""
    keys = image_keys(features)
    if not keys:
        return {}
    if sidecar is None:
        raise UserError(
            f"--shift-augment moves camera images ({', '.join(keys)}) from the simulated cameras' "
            "calibration, and this dataset names no simreal task (meta/simreal.json)"
        )
    import mujoco

    from simreal.sim import make_env

    env = make_env(sidecar["task"], **(sidecar.get("env_overrides") or {})).unwrapped
    try:
        mujoco.mj_forward(env.model, env.data)
        (x0, y0, _), (x1, y1, _) = env.config.ee_workspace
        table_z = env.config.crop.table_z or 0.0
        middle = np.array([(x0 + x1) / 2, (y0 + y1) / 2, table_z])
        return {
            key: env.cameras.table_motion(
                key.removeprefix(IMAGE_PREFIX), tuple(features[key]["shape"][:2]), middle
            )
            for key in keys
        }
    finally:
        env.close()


def translate_images(images: Tensor, pixels: Tensor) -> Tensor:
    """(B, T, C, H, W) images moved by `pixels` (B, 2) = (right, down) each, sub-pixel (bilinear);
    what comes in at the border repeats the edge."""
    b, t, c, h, w = images.shape
    theta = torch.zeros(b, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * pixels[:, 0] / w  # affine_grid's units: the image spans [-1, 1]
    theta[:, 1, 2] = -2.0 * pixels[:, 1] / h
    theta = theta.repeat_interleave(t, dim=0)
    flat = images.reshape(b * t, c, h, w)
    grid = F.affine_grid(theta, list(flat.shape), align_corners=False)
    moved = F.grid_sample(flat, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return moved.view(b, t, c, h, w)


class SceneShift:
    """Applies the shift to raw (unnormalized) batches of the features it was built for.

    `image_motion` says how each camera image of `features` moves (see `scene_image_motion`); an
    image feature it does not name is refused.
    """

    def __init__(
        self,
        max_shift_m: float,
        features: dict[str, dict],
        image_motion: Mapping[str, np.ndarray | None] | None = None,
    ):
        if max_shift_m <= 0:
            raise UserError(f"the scene shift must be > 0 m, got {max_shift_m}")
        self.max_shift_m = max_shift_m
        image_motion = dict(image_motion or {})
        images = image_keys(features)
        unplaced = [k for k in images if k not in image_motion]
        if unplaced:
            raise UserError(
                f"--shift-augment does not know how the scene moves in camera images ({', '.join(unplaced)})"
            )
        self.image_motion = {
            key: torch.as_tensor(image_motion[key], dtype=torch.float32)
            for key in images
            if image_motion[key] is not None
        }
        unknown = [k for k in features if k not in (*POSITION_NAMES, POINTCLOUD_KEY, *images)]
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
        for key, motion in self.image_motion.items():
            shifted[key] = translate_images(batch[key], offset @ motion.T)
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
