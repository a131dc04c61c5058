"""Observation encoders: the DP3 point-cloud encoder, a ResNet-18 image encoder, a state MLP (or the raw
state), and the module that combines them over the observation history into the U-Net's global
condition."""

from __future__ import annotations

import torch
import torchvision
from lerobot.configs import FeatureType, PolicyFeature
from torch import Tensor, nn

from simreal.datasets.schema import POINTCLOUD_KEY


class PointCloudEncoder(nn.Module):
    """DP3's encoder: per-point MLP 3->64->128->256 (LayerNorm + ReLU), max-pool, Linear -> out_dim
    + LayerNorm. Points (B, N, C) in the robot base frame (xyz metres, optional rgb) -> (B, out_dim)."""

    def __init__(self, in_channels: int, out_dim: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        for cin, cout in zip((in_channels, 64, 128), (64, 128, 256), strict=True):
            layers += [nn.Linear(cin, cout), nn.LayerNorm(cout), nn.ReLU()]
        self.point_mlp = nn.Sequential(*layers)
        self.project = nn.Sequential(nn.Linear(256, out_dim), nn.LayerNorm(out_dim))

    def forward(self, points: Tensor) -> Tensor:
        # max, not amax: the same values and, after the ReLU, the same gradients (ties are zeros the
        # ReLU stops), but a backward that scatters through indices instead of masking every point:
        # 10 against 28-35 ms for make demo's batch on one CPU thread.
        return self.project(self.point_mlp(points).max(dim=-2).values)


class StateEncoder(nn.Module):
    """DP3's state MLP: (B, S) -> (B, out_dim)."""

    def __init__(self, state_dim: int, out_dim: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(state_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))

    def forward(self, state: Tensor) -> Tensor:
        return self.mlp(state)


class SpatialSoftmax(nn.Module):
    """Keypoints as the softmax-weighted mean pixel position of learned heat maps (Levine et al.).

    (B, C, H, W) -> (B, K, 2) with coordinates in [-1, 1] of the feature map.
    """

    def __init__(self, in_channels: int, height: int, width: int, num_keypoints: int):
        super().__init__()
        self.heatmaps = nn.Conv2d(in_channels, num_keypoints, kernel_size=1)
        ys, xs = torch.meshgrid(
            torch.linspace(-1.0, 1.0, height), torch.linspace(-1.0, 1.0, width), indexing="ij"
        )
        self.register_buffer("grid", torch.stack([xs.flatten(), ys.flatten()], dim=-1), persistent=False)

    def forward(self, features: Tensor) -> Tensor:
        attention = torch.softmax(self.heatmaps(features).flatten(2), dim=-1)
        return attention @ self.grid


def _group_norm_resnet18(in_channels: int, stages: int = 4) -> nn.Module:
    """ResNet-18 from scratch (no downloaded weights) with BatchNorm replaced by GroupNorm, as in
    Diffusion Policy (BatchNorm statistics break with EMA and small batches), up to its `stages`-th
    residual stage (layer1-layer4)."""
    net = torchvision.models.resnet18(weights=None)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.GroupNorm(child.num_features // 16, child.num_features))
            else:
                swap(child)

    swap(net)
    # children: conv1, bn1, relu, maxpool, layer1-layer4, avgpool, fc
    return nn.Sequential(*list(net.children())[: 4 + stages])


class ImageEncoder(nn.Module):
    """ResNet-18 (GroupNorm) + spatial softmax + Linear/ReLU: (B, C, H, W) -> (B, out_dim).

    Crops a crop_ratio window: at a random place per image in training, in the centre at eval.
    With mixed_precision the backbone runs under bfloat16 autocast (1.5-2x faster on an AVX512-BF16 CPU);
    the spatial softmax and everything after it stay float32. Training batches go through the backbone
    channels-last (see forward); the weights keep the default layout, so checkpoints are unchanged.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        crop_ratio: float,
        num_keypoints: int,
        out_dim: int,
        mixed_precision: bool = False,
        backbone_stages: int = 4,
    ):
        super().__init__()
        self.mixed_precision = mixed_precision
        channels, height, width = image_shape
        self.crop = (max(1, round(height * crop_ratio)), max(1, round(width * crop_ratio)))
        self.backbone = _group_norm_resnet18(channels, backbone_stages)
        with torch.no_grad():
            fmap = self.backbone(torch.zeros(1, channels, *self.crop))
        self.keypoints = SpatialSoftmax(fmap.shape[1], fmap.shape[2], fmap.shape[3], num_keypoints)
        self.out = nn.Sequential(nn.Linear(num_keypoints * 2, out_dim), nn.ReLU())

    def _crop(self, images: Tensor) -> Tensor:
        h, w = self.crop
        dy, dx = images.shape[-2] - h, images.shape[-1] - w
        if not self.training:
            return images[..., dy // 2 : dy // 2 + h, dx // 2 : dx // 2 + w]
        ys = torch.randint(0, dy + 1, (images.shape[0],)).tolist()
        xs = torch.randint(0, dx + 1, (images.shape[0],)).tolist()
        return torch.stack([img[:, y : y + h, x : x + w] for img, y, x in zip(images, ys, xs, strict=True)])

    def forward(self, images: Tensor) -> Tensor:
        images = self._crop(images)
        if self.training:
            # oneDNN's channels-last convolutions make the image training step 1.08-1.10x faster on the
            # AVX512 CPU (benchmarks/results/train_channels_last.json); on inference's few frames they
            # were slower, so evaluation keeps the default layout.
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=self.mixed_precision):
            fmap = self.backbone(images)
        return self.out(self.keypoints(fmap.float()).flatten(1))


class ObservationEncoder(nn.Module):
    """Encodes T_o steps of every used observation feature and concatenates them.

    Inputs per key are (B, T_o, *feature_shape) (normalized as the processors do); the output is
    (B, T_o * feature_dim), the global condition of the U-Net. Each feature is embedded to embed_dim,
    except state vectors with raw_state, which join the condition as they are (Diffusion Policy's and
    LeRobot's way; DP3 embeds them with an MLP). Keys are visited in sorted order so the
    layout does not depend on dict order.
    """

    def __init__(
        self,
        input_features: dict[str, PolicyFeature],
        n_obs_steps: int,
        embed_dim: int = 64,
        crop_ratio: float = 0.9,
        num_keypoints: int = 32,
        mixed_precision: bool = False,
        backbone_stages: int = 4,
        raw_state: bool = False,
    ):
        super().__init__()
        self.keys = sorted(input_features)
        self.encoders = nn.ModuleDict()
        step_dim = 0
        for key in self.keys:
            ft = input_features[key]
            if raw_state and encoder_kind(key, ft) == "state":
                encoder, dim = nn.Identity(), ft.shape[0]
            else:
                encoder = make_feature_encoder(
                    key, ft, embed_dim, crop_ratio, num_keypoints, mixed_precision, backbone_stages
                )
                dim = embed_dim
            self.encoders[_module_name(key)] = encoder
            step_dim += dim
        self.out_dim = n_obs_steps * step_dim

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        features = []
        for key in self.keys:
            x = batch[key]
            b, t = x.shape[:2]
            features.append(self.encoders[_module_name(key)](x.flatten(0, 1)).view(b, t, -1))
        return torch.cat(features, dim=-1).flatten(1)


def encoder_kind(key: str, feature: PolicyFeature) -> str | None:
    """'image', 'pointcloud' or 'state' for a feature the policies can encode, else None."""
    if feature.type is FeatureType.VISUAL and len(feature.shape) == 3:
        return "image"
    if key == POINTCLOUD_KEY and len(feature.shape) == 2 and feature.shape[-1] in (3, 6):
        return "pointcloud"
    if feature.type in (FeatureType.STATE, FeatureType.ENV) and len(feature.shape) == 1:
        return "state"
    return None


def make_feature_encoder(
    key: str,
    feature: PolicyFeature,
    embed_dim: int,
    crop_ratio: float,
    num_keypoints: int,
    mixed_precision: bool = False,
    backbone_stages: int = 4,
) -> nn.Module:
    kind = encoder_kind(key, feature)
    if kind == "image":
        return ImageEncoder(
            tuple(feature.shape), crop_ratio, num_keypoints, embed_dim, mixed_precision, backbone_stages
        )
    if kind == "pointcloud":
        return PointCloudEncoder(feature.shape[-1], embed_dim)
    if kind == "state":
        return StateEncoder(feature.shape[0], embed_dim)
    raise ValueError(f"no encoder for feature '{key}' of shape {tuple(feature.shape)}")


def _module_name(key: str) -> str:
    return key.replace(".", "__")
