"""Scene-shift augmentation: move each training window's whole scene by one random offset in the
table plane.

With absolute TCP-pose actions, where to put the gripper is where the object is, so a policy can
learn positions by heart instead of reading them from the scene. Shifting the point cloud's xyz, every
base-frame x/y coordinate of the state (the TCP, and in an environment state the objects) and the
action's x/y by the same offset, drawn per window from [-max_shift, max_shift] metres, makes up scenes
that are the same task elsewhere on the table. Joint angles and orientations are left as they are.
Camera images cannot be shifted consistently, so a shifted run may not use them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from simreal.datasets.schema import ACTION_KEY, POINTCLOUD_KEY
from simreal.errors import UserError

AXES = ("x", "y")


def position_channels(names: Sequence[str] | None, axis: str) -> list[int]:
    """Indices of a vector feature's base-frame `axis` coordinates: a name equal to the axis ("x") or
    ending in "_<axis>" ("tcp_x", "cube_x")."""
    return [i for i, name in enumerate(names or ()) if name == axis or name.endswith(f"_{axis}")]


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
        action_channels = [position_channels(features[ACTION_KEY].get("names"), a) for a in AXES]
        if not all(action_channels):
            raise UserError(
                "--shift-augment needs actions with base-frame x and y (TCP-pose actions, "
                f"`collect --controller ee_pose`); the action's names are {features[ACTION_KEY].get('names')}"
            )
        self.vector_channels: dict[str, list[list[int]]] = {ACTION_KEY: action_channels}
        for key, ft in features.items():
            if key in (ACTION_KEY, POINTCLOUD_KEY) or len(ft.get("shape", ())) != 1:
                continue
            channels = [position_channels(ft.get("names"), a) for a in AXES]
            if any(channels):
                self.vector_channels[key] = channels
        self.pointcloud = POINTCLOUD_KEY in features

    def __call__(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """A new batch with each window's scene shifted; the input batch is not modified."""
        actions = batch[ACTION_KEY]
        offset = (torch.rand(actions.shape[0], len(AXES)) * 2 - 1) * self.max_shift_m
        shifted = dict(batch)
        for key, channels in self.vector_channels.items():
            value = batch[key].clone()
            for axis, indices in enumerate(channels):
                value[..., indices] += _broadcast(offset[:, axis], value.ndim).to(value)
            shifted[key] = value
        if self.pointcloud:
            cloud = batch[POINTCLOUD_KEY].clone()  # (B, T_o, N, C), xyz first
            cloud[..., : len(AXES)] += offset.view(-1, 1, 1, len(AXES)).to(cloud)
            shifted[POINTCLOUD_KEY] = cloud
        return shifted


def _broadcast(per_window: Tensor, ndim: int) -> Tensor:
    """(B,) -> (B, 1, ..., 1) with `ndim` dims in all, against a (B, T, 1) channel selection."""
    return per_window.view(-1, *([1] * (ndim - 1)))
