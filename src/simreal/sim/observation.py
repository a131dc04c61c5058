"""What an env observes: the ObservationConfig dataclass and the LeRobot feature names it produces."""

from __future__ import annotations

from dataclasses import dataclass, fields

from simreal.errors import UserError

STATE_KEY = "observation.state"
POINTCLOUD_KEY = "observation.pointcloud"
# LeRobot's name for low-dimensional task state (object and goal poses); policies see FeatureType.ENV.
ENV_STATE_KEY = "observation.environment_state"
ACTION_KEY = "action"


def image_key(camera: str) -> str:
    return f"observation.images.{camera}"


def depth_key(camera: str) -> str:
    return f"observation.depth.{camera}"


@dataclass(frozen=True)
class ObservationConfig:
    """Which observations an env returns.

    state: joint angles, gripper opening, TCP pose (see `SimTaskEnv.state_names`).
    env_state: the task's object and goal poses from the simulator (`SimTaskEnv.environment_state`),
        privileged low-dimensional input for fast learning (Diffusion Policy's low-dim variants).
    cameras: cameras that produce images/depth; the point cloud fuses the task's `pointcloud_cameras`.
    rgb / depth: per-camera uint8 (H, W, 3) images / float32 (H, W, 1) metric depth.
    pointcloud: float32 (num_points, 3) xyz in the base frame, (num_points, 6) with `pointcloud_color`.
    image_size: (H, W) pixels of images and depth maps.
    """

    state: bool = True
    env_state: bool = False
    cameras: tuple[str, ...] = ("front", "wrist")
    rgb: bool = True
    depth: bool = False
    pointcloud: bool = True
    num_points: int = 512
    pointcloud_color: bool = False
    image_size: tuple[int, int] = (96, 96)

    def __post_init__(self):
        # Lists from JSON (to_dict round trips) become tuples, so configs compare and hash equal.
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))

    @classmethod
    def parse(cls, spec: str) -> ObservationConfig:
        """From a CLI string of comma-separated items: the modalities to switch on ("state",
        "env_state", "rgb", "depth", "pointcloud", "color") and options "cameras=front+wrist",
        "points=1024", "size=128x128" (H x W). Modalities not named are off.
        Example: "state,rgb,pointcloud,cameras=front,points=1024"."""
        modalities = ("state", "env_state", "rgb", "depth", "pointcloud")
        flags = dict.fromkeys((*modalities, "pointcloud_color"), False)
        options: dict = {}
        for item in (s.strip() for s in spec.split(",") if s.strip()):
            key, _, value = item.partition("=")
            try:
                if not value and key in modalities:
                    flags[key] = True
                elif not value and key == "color":
                    flags["pointcloud_color"] = flags["pointcloud"] = True
                elif key == "cameras":
                    options["cameras"] = tuple(c for c in value.split("+") if c)
                elif key == "points":
                    options["num_points"] = int(value)
                elif key == "size":
                    height, width = value.lower().split("x")
                    options["image_size"] = (int(height), int(width))
                else:
                    raise ValueError
            except ValueError:
                raise UserError(
                    f"bad observation item {item!r}; use state, env_state, rgb, depth, pointcloud, color, "
                    "cameras=a+b, points=N, size=HxW"
                ) from None
        return cls(**flags, **options).validated()

    def validated(self) -> ObservationConfig:
        """Self, after checking the values are usable (UserError otherwise)."""
        if self.num_points < 1:
            raise UserError(f"num_points must be positive, got {self.num_points}")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise UserError(f"image_size must be (H, W) with both >= 8, got {self.image_size}")
        if (self.rgb or self.depth) and not self.cameras:
            raise UserError("rgb/depth observations need at least one camera")
        if not (self.state or self.env_state or self.rgb or self.depth or self.pointcloud):
            raise UserError("the observation config switches every modality off")
        return self

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples as lists); `ObservationConfig(**d)` reads it back."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}
