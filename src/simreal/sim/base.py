"""The base of every simreal task: a gymnasium.Env around our arm on a table.

A task is a small subclass that supplies
  - `objects_xml()` (+ optional `assets_xml()`): its MJCF bodies, placed in the world,
  - `on_model_loaded()`: look up its body/geom ids once the model exists,
  - `randomize(rng)`: write the episode's initial object poses into `self.data` (robot already home),
  - `is_success()` and `progress()` (float in [0, 1]),
  - `environment_state()` and `environment_state_names`: its object and goal poses as a flat vector
    (the `env_state` observation),
  - `make_expert(rng, noise)`: a scripted expert (see simreal.sim.expert.WaypointExpert),
and class attributes `name`, `description` (one line for `simreal tasks`), `task_description` (the
LeRobot task string) and `Config` (a TaskConfig subclass with the task's own fields).

Everything else (observations, controllers, cameras, point clouds, determinism, rendering) lives here.
Units: metres, radians, seconds; every pose is in the robot base frame (= MuJoCo world).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np

from simreal.errors import UserError
from simreal.sim import observation as keys
from simreal.sim.cameras import CameraRig
from simreal.sim.controllers import DifferentialIK, EEDeltaController, EEPoseController
from simreal.sim.observation import ObservationConfig
from simreal.sim.panda_mjcf import HOME_Q
from simreal.sim.pointcloud import CropConfig, fuse_point_cloud
from simreal.sim.robot import Robot
from simreal.sim.scene import PHYSICS_TIMESTEP, build_scene_model

CONTROLLERS = ("joint_pos", "ee_delta", "ee_pose")
STATE_NAMES = (
    *(f"joint{i}" for i in range(1, 8)),
    "gripper_opening",
    *(f"tcp_{c}" for c in ("x", "y", "z", "qw", "qx", "qy", "qz")),
)
# The end-effector controllers, by the name of the action space they take.
EE_CONTROLLERS = {"ee_delta": EEDeltaController, "ee_pose": EEPoseController}


@dataclass
class TaskConfig:
    """Settings shared by every task (override any field through `make_env(task, **overrides)`)."""

    max_episode_steps: int = 200  # control steps before truncation
    fps: int = 20  # control (policy) rate, Hz; physics runs at 500 Hz
    pointcloud_cameras: tuple[str, ...] = ("front", "wrist")  # depth cameras fused into the cloud
    pointcloud_image_size: tuple[int, int] = (96, 96)  # (H, W) of the depth renders behind the cloud
    crop: CropConfig = field(default_factory=CropConfig)  # workspace box and table removal
    ee_workspace: tuple[tuple[float, ...], tuple[float, ...]] = ((0.2, -0.45, 0.0), (0.85, 0.45, 0.6))
    render_camera: str = "front"  # camera of render() frames (videos)
    render_size: tuple[int, int] = (240, 320)  # (H, W) of render() frames
    home_q: tuple[float, ...] = tuple(HOME_Q)  # rad, the arm's reset posture
    expert_noise: float = 1.0  # default noise scale of make_expert (0 = noiseless)
    robot_mjcf: str | None = None  # path to a user robot MJCF instead of ours (scene.build_scene_model)


class SimTaskEnv(gym.Env):
    """A MuJoCo task with the observation/action contract of simreal (see the module docstring)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    task_description: ClassVar[str] = ""
    environment_state_names: ClassVar[tuple[str, ...]] = ()  # one per `environment_state()` entry
    # Whether everything that decides the task (objects and goal) is in the scene, so that moving the
    # whole scene in the table plane gives the same task elsewhere (training.augment.SceneShift).
    goal_in_scene: ClassVar[bool] = False
    Config: ClassVar[type[TaskConfig]] = TaskConfig
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 20}

    @classmethod
    def default_config(cls) -> TaskConfig:
        return cls.Config()

    def __init__(
        self,
        obs: ObservationConfig | None = None,
        controller: str = "joint_pos",
        config: TaskConfig | None = None,
        render_mode: str | None = "rgb_array",
    ):
        if controller not in CONTROLLERS:
            raise UserError(f"unknown controller {controller!r}; choose one of {', '.join(CONTROLLERS)}")
        self.config = config if config is not None else self.default_config()
        self.obs_config = (obs if obs is not None else ObservationConfig()).validated()
        if self.obs_config.env_state and not self.environment_state_names:
            raise UserError(
                f"task {self.name!r} has no environment state: drop env_state from the observations"
            )
        self.controller = controller
        self.render_mode = render_mode
        # The framebuffer holds every view of one observation side by side (rendering.TiledRenderer).
        obs_cfg, cfg = self.obs_config, self.config
        strip = obs_cfg.image_size[1] * len(obs_cfg.cameras)
        strip += cfg.pointcloud_image_size[1] * len(cfg.pointcloud_cameras)
        biggest = max(strip, *obs_cfg.image_size, *cfg.pointcloud_image_size, *cfg.render_size)
        self.model = build_scene_model(
            self.name, self.objects_xml(), self.assets_xml(), max(640, biggest), cfg.robot_mjcf
        )
        self.data = mujoco.MjData(self.model)
        self.robot = Robot(self.model, self.data)
        self.cameras = CameraRig(self.model, self.data)
        for cam in self._used_cameras():
            self.cameras.check(cam)
        self.home_q = np.asarray(self.config.home_q, dtype=float)
        self.ik = DifferentialIK(self.model, self.robot, self.home_q)
        # End-effector actions go through IK; joint_pos actions are the joint targets themselves.
        ee_controller = EE_CONTROLLERS.get(controller)
        self.ee_controller = ee_controller(self.ik, self.config.ee_workspace) if ee_controller else None
        self.fps = self.config.fps
        self.n_substeps = round(1.0 / (self.fps * PHYSICS_TIMESTEP))
        self.max_episode_steps = self.config.max_episode_steps
        self.action_space = self._make_action_space()
        self.observation_space = self._make_observation_space()
        self.steps = 0
        self.on_model_loaded()

    # ---- task hooks -------------------------------------------------------------------------------
    def objects_xml(self) -> str:
        """MJCF bodies of the task's objects (placed in the worldbody)."""
        raise NotImplementedError

    def assets_xml(self) -> str:
        """MJCF assets (materials, textures) the objects use."""
        return ""

    def on_model_loaded(self) -> None:
        """Called once after the model is compiled: look up ids here."""

    def randomize(self, rng: np.random.Generator) -> None:
        """Writes the episode's initial object state into `self.data` (before mj_forward)."""
        raise NotImplementedError

    def is_success(self) -> bool:
        raise NotImplementedError

    def progress(self) -> float:
        """Dense task progress in [0, 1] (1 at success)."""
        raise NotImplementedError

    def outcome(self) -> dict[str, float]:
        """How far the current state is from success, as named measures (units in the names), so a
        failed rollout says how it failed (`simreal eval`'s per-episode rows); {} where none is defined."""
        return {}

    def environment_state(self) -> np.ndarray:
        """The task's object and goal poses, one value per `environment_state_names` entry (metres in
        the base frame; angles as cos/sin of a multiple of the yaw, so symmetric poses coincide)."""
        raise NotImplementedError

    def make_expert(self, rng: np.random.Generator, noise: float | None = None):
        """A scripted expert with `.act(obs) -> action` and `.reset()`; `noise` scales its
        randomisation (None = the config's `expert_noise`, 0 = deterministic)."""
        raise NotImplementedError

    # ---- gymnasium API ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Arm at `home_q` with the jaw open, objects placed by `randomize` from the env's generator
        (seeded by `seed`: the same seed and actions replay the same episode). Returns (obs, info)."""
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.robot.set_home(self.home_q)
        self.randomize(self.np_random)
        mujoco.mj_forward(self.model, self.data)
        if self.ee_controller is not None:
            self.ee_controller.reset(self.home_q)
        self.steps = 0
        return self.observe(), self._info()

    def step(self, action):
        """One control step (1/fps s of physics at 500 Hz). `action` is clipped to the action space;
        NaN or a wrong shape raises UserError. The reward is sparse: 1.0 on success, else 0.0;
        `terminated` on success, `truncated` at `max_episode_steps`."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape or not np.all(np.isfinite(action)):
            raise UserError(f"action must be {self.action_space.shape} finite values, got {action}")
        action = np.clip(action, self.action_space.low, self.action_space.high)
        if self.controller == "joint_pos":
            q7, gripper = action[:7], action[7]
        else:
            q7, gripper = self.ee_controller.joint_targets(action)
        self.robot.set_joint_targets(q7, gripper)
        mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
        self.steps += 1
        info = self._info()
        truncated = self.steps >= self.max_episode_steps
        return self.observe(), float(info["success"]), info["success"], truncated, info

    def render(self) -> np.ndarray:
        """uint8 (H, W, 3) frame of `config.render_camera` at `config.render_size`, for videos."""
        return self.cameras.render_rgb(self.config.render_camera, self.config.render_size)

    def close(self) -> None:
        self.cameras.close()

    # ---- observations -----------------------------------------------------------------------------
    def observe(self) -> dict[str, np.ndarray]:
        """The observation dict for the current state (LeRobot feature names, see `features`)."""
        cfg = self.obs_config
        out: dict[str, np.ndarray] = {}
        if cfg.state:
            out[keys.STATE_KEY] = self.state_vector()
        if cfg.env_state:
            out[keys.ENV_STATE_KEY] = np.asarray(self.environment_state(), dtype=np.float32)
        frames = self._render_frames()
        for cam in cfg.cameras:
            rgb, depth = frames.get((cam, cfg.image_size), (None, None))
            if cfg.rgb:
                out[keys.image_key(cam)] = rgb
            if cfg.depth:
                out[keys.depth_key(cam)] = depth[..., None]
        if cfg.pointcloud:
            size = tuple(self.config.pointcloud_image_size)
            cams = self.config.pointcloud_cameras
            out[keys.POINTCLOUD_KEY] = fuse_point_cloud(
                [frames[(cam, size)][1] for cam in cams],
                [self.cameras.intrinsics(cam, size) for cam in cams],
                [self.cameras.pose(cam) for cam in cams],
                cfg.num_points,
                self.config.crop,
                colors=[frames[(cam, size)][0] for cam in cams] if cfg.pointcloud_color else None,
            )
        return out

    def _render_frames(self) -> dict[tuple[str, tuple[int, int]], tuple]:
        """(rgb or None, depth or None) per (camera, size) this observation needs, all rendered in one
        pass; a camera whose image and cloud depth share a size is drawn once."""
        cfg = self.obs_config
        needs: dict[tuple[str, tuple[int, int]], set[str]] = {}
        for cam in cfg.cameras:
            for kind, wanted in (("rgb", cfg.rgb), ("depth", cfg.depth)):
                if wanted:
                    needs.setdefault((cam, tuple(cfg.image_size)), set()).add(kind)
        if cfg.pointcloud:
            for cam in self.config.pointcloud_cameras:
                need = needs.setdefault((cam, tuple(self.config.pointcloud_image_size)), set())
                need.update(("depth", "rgb") if cfg.pointcloud_color else ("depth",))
        if not needs:
            return {}
        kinds = set().union(*needs.values())
        views = list(needs)
        rendered = self.cameras.render(views, rgb="rgb" in kinds, depth="depth" in kinds)
        return dict(zip(views, rendered, strict=True))

    def state_vector(self) -> np.ndarray:
        """float32 (15,): joint1..7 (rad), gripper opening (m), TCP xyz (m) and quaternion wxyz."""
        pos, quat = self.robot.tcp_pose()
        return np.concatenate([self.robot.qpos(), pos, quat]).astype(np.float32)

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        """LeRobot features ({"dtype", "shape", "names"}) of the configured observations + "action"."""
        cfg = self.obs_config
        feats: dict[str, dict[str, Any]] = {}
        if cfg.state:
            feats[keys.STATE_KEY] = {
                "dtype": "float32",
                "shape": (len(STATE_NAMES),),
                "names": list(STATE_NAMES),
            }
        if cfg.env_state:
            feats[keys.ENV_STATE_KEY] = {
                "dtype": "float32",
                "shape": (len(self.environment_state_names),),
                "names": list(self.environment_state_names),
            }
        for cam in cfg.cameras:
            if cfg.rgb:
                feats[keys.image_key(cam)] = {
                    "dtype": "video",
                    "shape": (*cfg.image_size, 3),
                    "names": ["height", "width", "channels"],
                }
            if cfg.depth:
                feats[keys.depth_key(cam)] = {
                    "dtype": "float32",
                    "shape": (*cfg.image_size, 1),
                    "names": ["height", "width", "channels"],
                }
        if cfg.pointcloud:
            width = 6 if cfg.pointcloud_color else 3
            feats[keys.POINTCLOUD_KEY] = {
                "dtype": "float32",
                "shape": (cfg.num_points, width),
                "names": ["points", "xyzrgb" if width == 6 else "xyz"],
            }
        feats[keys.ACTION_KEY] = {
            "dtype": "float32",
            "shape": self.action_space.shape,
            "names": list(self.action_names),
        }
        return feats

    @property
    def action_names(self) -> tuple[str, ...]:
        if self.controller == "joint_pos":
            return (*(f"joint{i}" for i in range(1, 8)), "gripper")
        if self.controller == "ee_pose":
            return ("x", "y", "z", "qw", "qx", "qy", "qz", "gripper")
        return ("dx", "dy", "dz", "drx", "dry", "drz", "gripper")

    # ---- robot-level access (ROS sim node, replay) ------------------------------------------------
    def advance(self, n_physics_steps: int) -> None:
        """Steps the physics `n_physics_steps` times (2 ms each) with the current servo targets."""
        mujoco.mj_step(self.model, self.data, nstep=int(n_physics_steps))

    def render_camera(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 (H, W, 3) colour, float32 (H, W) metric depth) of camera `name` at the observation
        image size."""
        return self.cameras.render_rgbd(name, self.obs_config.image_size)

    def camera_intrinsics(self, name: str) -> np.ndarray:
        """3x3 OpenCV K of camera `name` at the observation image size."""
        return self.cameras.intrinsics(name, self.obs_config.image_size)

    def camera_pose(self, name: str) -> np.ndarray:
        """4x4 T_base_cam of camera `name` (OpenCV camera frame: x right, y down, z forward)."""
        return self.cameras.pose(name)

    def physics_state(self) -> np.ndarray:
        """Full physics state (mj_getState, mjSTATE_FULLPHYSICS: time, qpos, qvel, act, ...)."""
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        state = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, state, spec)
        return state

    def set_physics_state(self, state: np.ndarray) -> None:
        """Restores a `physics_state()` snapshot (and recomputes derived quantities)."""
        mujoco.mj_setState(
            self.model, self.data, np.asarray(state, float), mujoco.mjtState.mjSTATE_FULLPHYSICS
        )
        mujoco.mj_forward(self.model, self.data)

    # ---- helpers ----------------------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        return {"success": bool(self.is_success()), "progress": float(np.clip(self.progress(), 0.0, 1.0))}

    def _used_cameras(self) -> tuple[str, ...]:
        cams = tuple(self.obs_config.cameras) if self.obs_config.rgb or self.obs_config.depth else ()
        if self.obs_config.pointcloud:
            cams += tuple(self.config.pointcloud_cameras)
        return (*cams, self.config.render_camera)

    def _make_action_space(self) -> gym.spaces.Box:
        if self.controller == "joint_pos":
            lower, upper = self.robot.joint_limits
            low = np.append(lower[:7], 0.0)
            high = np.append(upper[:7], 1.0)
        else:
            low, high = self.ee_controller.action_bounds()
        return gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)

    def _make_observation_space(self) -> gym.spaces.Dict:
        spaces = {}
        for key, feat in self.features.items():
            if key == keys.ACTION_KEY:
                continue
            if feat["dtype"] == "video":
                spaces[key] = gym.spaces.Box(0, 255, feat["shape"], dtype=np.uint8)
            else:
                spaces[key] = gym.spaces.Box(-np.inf, np.inf, feat["shape"], dtype=np.float32)
        return gym.spaces.Dict(spaces)
