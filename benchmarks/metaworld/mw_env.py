"""A Meta-World v3 task seen as DP3 sees it: agent state + a 512-point cloud from one camera.

`MetaWorldTask(name)` wraps the goal-observable v3 env of `name` ("reach", "button-press", ...) with
seeded resets (`reset(seed)` fully determines object and goal positions) and returns observations
with simreal's LeRobot feature names. Runs in the Meta-World venv (mujoco 3.3.0).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless; must precede the first mujoco import

import numpy as np
from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE
from metaworld.policies import ENV_POLICY_MAP
from pointcloud import DepthCloudCamera

STATE_KEY = "observation.state"
POINTCLOUD_KEY = "observation.pointcloud"
ACTION_KEY = "action"
STATE_NAMES = ["hand_x", "hand_y", "hand_z", "gripper_open"]
ACTION_NAMES = ["dx", "dy", "dz", "grip"]
# corner2 sits 1.6 m from the table centre by default (only ~4% of a 128x128 depth image lands in
# the workspace); moved in front of the table, looking down at the scene as before.
CAMERA_POSITION = (0.6, 0.295, 0.8)


class MetaWorldTask:
    """One Meta-World v3 task with DP3-style observations.

    Observation: "observation.state" float32 (4,) = hand position (m, world frame) and the gripper
    opening (Meta-World's normalised finger distance in [0, 1]); "observation.pointcloud" float32
    (num_points, 3) xyz metres in the world frame. Action float32 (4,) in [-1, 1]: hand displacement
    command (x, y, z, scaled by the env's action_scale) and gripper effort.
    """

    def __init__(self, name: str, *, camera: str = "corner2", image_size: int = 128, num_points: int = 512):
        env_id = f"{name}-v3-goal-observable"
        if env_id not in ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE:
            raise ValueError(f"unknown Meta-World task '{name}'")
        self.name = name
        self.env = ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[env_id](seed=0)
        self.env.seeded_rand_vec = True  # draw object/goal positions from env.np_random (seeded)
        self.max_steps = self.env.max_path_length
        self.camera = DepthCloudCamera(self.env.model, camera, image_size, CAMERA_POSITION, num_points)
        self.num_points = num_points
        self._raw_obs: np.ndarray | None = None

    @property
    def fps(self) -> int:
        """Control rate (Hz): one env step lasts model.opt.timestep * frame_skip seconds."""
        return round(1.0 / (self.env.model.opt.timestep * self.env.frame_skip))

    @property
    def features(self) -> dict[str, dict]:
        """LeRobot features of the recorded observations and the action."""
        return {
            STATE_KEY: {"dtype": "float32", "shape": (4,), "names": STATE_NAMES},
            POINTCLOUD_KEY: {"dtype": "float32", "shape": (self.num_points, 3), "names": None},
            ACTION_KEY: {"dtype": "float32", "shape": (4,), "names": ACTION_NAMES},
        }

    @property
    def description(self) -> str:
        return f"Meta-World {self.name}"

    def reset(self, seed: int) -> dict[str, np.ndarray]:
        """Start an episode whose object and goal positions are fixed by `seed`."""
        self.env._freeze_rand_vec = False
        self.env.seed(seed)
        self._raw_obs, _ = self.env.reset()
        return self.observe()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], bool]:
        """Apply `action`; returns (observation, success)."""
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._raw_obs, _, _, _, info = self.env.step(action)
        return self.observe(), bool(info["success"])

    def observe(self) -> dict[str, np.ndarray]:
        return {
            STATE_KEY: self._raw_obs[:4].astype(np.float32),
            POINTCLOUD_KEY: self.camera(self.env.data),
        }

    def make_expert(self):
        """Meta-World's scripted policy for this task; `.get_action(raw_obs)` reads privileged state."""
        return ENV_POLICY_MAP[f"{self.name}-v3"]()

    @property
    def raw_obs(self) -> np.ndarray:
        """Meta-World's own 39-d observation (privileged object/goal state, for the expert only)."""
        return self._raw_obs

    def close(self) -> None:
        self.camera.close()
        self.env.close()
