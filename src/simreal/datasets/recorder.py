"""Recording episodes into a LeRobotDataset (v3.0) through LeRobot's own writer API.

`DatasetRecorder` wraps `LeRobotDataset.create/resume`, `add_frame`, `save_episode`,
`clear_episode_buffer` and `finalize`, and keeps the simreal sidecar (meta/simreal.json) in step
with the episodes LeRobot has saved. Camera frames are encoded while they are captured
(LeRobot's streaming encoder), so `save_episode` does not wait for a PNG-to-MP4 pass.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from simreal.datasets.schema import ACTION_KEY, schema_difference, storage_features, user_features
from simreal.datasets.sidecar import read_simreal_meta, sidecar_file, write_simreal_meta
from simreal.datasets.validate import validate_dataset
from simreal.errors import UserError


class DatasetRecorder:
    """Append episodes to a local LeRobotDataset and its simreal sidecar.

    Use `DatasetRecorder.open(...)` (create or resume), then per step `add_frame(obs, action)`,
    per episode `save_episode(seed=..., success=...)` or `discard_episode(seed=...)`, and
    `finalize()` at the end (also done by the context manager, which drops an unsaved partial
    episode first). Without `finalize` LeRobot's parquet files have no footer and are unreadable.
    """

    def __init__(self, dataset, meta: dict[str, Any]):
        self.dataset = dataset
        self.meta = meta
        self.root = Path(dataset.root)
        self._frame_keys = [k for k in user_features(dataset.features) if k != ACTION_KEY]
        self._task_description = meta["task_description"]
        self._finalized = False
        _quiet_encoders()  # after LeRobot's loaders, which switch the progress bars back on
        _skip_embedding_without_images()

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        root: str | Path,
        *,
        env_features: dict[str, dict],
        fps: int,
        task: str,
        task_description: str,
        controller: str,
        observation: dict[str, Any],
        expert: dict[str, Any],
        robot_type: str | None = None,
        env_overrides: dict[str, Any] | None = None,
        resume: bool = False,
        use_videos: bool = True,
    ) -> DatasetRecorder:
        """Create a dataset at `root`, or with `resume=True` append to the one there.

        `env_features` is `env.unwrapped.features` (LeRobot feature dicts, including "action");
        `observation` is the ObservationConfig as a dict; `expert` describes who acts
        (e.g. {"kind": "scripted", "noise": 0.0}); `env_overrides` are the task-config overrides the
        env was made with (`make_env(task, **env_overrides)`), kept so replay makes the same env.
        Raises UserError when `root` holds something
        else: a non-empty directory without `resume`, or a dataset of another schema with it.
        """
        root = Path(root)
        features = storage_features(env_features, use_videos=use_videos)
        meta = {
            "task": task,
            "task_description": task_description,
            "controller": controller,
            "observation": observation,
            "fps": int(fps),
            "robot_type": robot_type,
            "expert": expert,
            "env_overrides": dict(env_overrides or {}),
            "features": user_features(features),
            "episodes": [],
            "discarded_seeds": [],
        }
        if root.exists() and not root.is_dir():
            raise UserError(f"{root} exists and is not a directory")
        exists = root.exists() and any(root.iterdir())
        if exists and not resume:
            raise UserError(f"{root} already exists and is not empty (pass --resume to append to it)")
        if exists:
            return cls._resume(root, meta)
        return cls._create(root, meta, features, use_videos)

    @classmethod
    def _create(cls, root: Path, meta: dict, features: dict, use_videos: bool) -> DatasetRecorder:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        if root.exists():
            root.rmdir()  # LeRobot insists on creating the directory itself; it is empty here
        dataset = LeRobotDataset.create(
            repo_id=_repo_id(root),
            fps=meta["fps"],
            features=features,
            root=root,
            robot_type=meta["robot_type"],
            use_videos=use_videos,
            streaming_encoding=True,
            depth_encoder=_depth_encoder(),
        )
        write_simreal_meta(root, meta)
        return cls(dataset, meta)

    @classmethod
    def _resume(cls, root: Path, meta: dict) -> DatasetRecorder:
        from lerobot.datasets.io_utils import load_info
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        if not (root / "meta" / "info.json").is_file() or not sidecar_file(root).is_file():
            raise UserError(f"{root} is not a simreal dataset (no meta/info.json or meta/simreal.json)")
        old = read_simreal_meta(root)
        problem = (
            _setting_difference(meta, old)
            or schema_difference(meta["features"], dict(load_info(root).features))
            or _observation_difference(meta, old)
        )
        if problem:
            raise UserError(f"{root} holds another schema: {problem}")
        report = validate_dataset(root)  # appending to a broken dataset would bury the damage
        if not report.ok:
            raise UserError(f"{root} does not validate, nothing appended: {report.problems[0]}")
        dataset = LeRobotDataset.resume(
            repo_id=_repo_id(root), root=root, streaming_encoding=True, depth_encoder=_depth_encoder()
        )
        merged = {**old, "expert": meta["expert"], "env_overrides": meta["env_overrides"]}
        return cls(dataset, merged)

    # -- recording -----------------------------------------------------------------------------

    @property
    def num_episodes(self) -> int:
        """Episodes saved in the dataset (earlier sessions included)."""
        return len(self.meta["episodes"])

    @property
    def pending_frames(self) -> int:
        """Frames added to the current, not yet saved, episode."""
        buffer = self.dataset.writer.episode_buffer
        return 0 if buffer is None else int(buffer["size"])

    def add_frame(self, observation: dict[str, np.ndarray], action: np.ndarray) -> None:
        """Buffer one step: the observation the action was chosen from, and that action.

        Raises UserError when the observation lacks a recorded feature or holds NaN/inf: such a
        frame would poison training, so it is refused rather than written.
        """
        frame: dict[str, Any] = {}
        for key in self._frame_keys:
            if key not in observation:
                raise UserError(f"the observation has no '{key}' (recorded features: {self._frame_keys})")
            frame[key] = np.asarray(observation[key])
        frame[ACTION_KEY] = np.asarray(action, dtype=np.float32)
        for key, value in frame.items():
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise UserError(f"'{key}' holds NaN or inf at frame {self.pending_frames}; not recorded")
        frame["task"] = self._task_description
        self.dataset.add_frame(frame)

    def save_episode(
        self, *, seed: int | None, success: bool, expert: str | None = None, perturbed: bool = False
    ) -> int:
        """Write the buffered episode (parquet rows, videos, stats) and record it in the sidecar.

        `seed` is the `env.reset(seed=...)` that started it (None for a real robot); `perturbed` says
        the executed actions differed from the recorded ones (a recovery demo, not replayable).
        Returns the episode index.
        """
        length = self.pending_frames
        if length == 0:
            raise ValueError("save_episode() without frames")
        index = self.num_episodes
        self.dataset.save_episode()
        self.meta["episodes"].append(
            {
                "episode_index": index,
                "seed": None if seed is None else int(seed),
                "success": bool(success),
                "length": length,
                "expert": expert or self.meta["expert"].get("kind"),
                "perturbed": bool(perturbed),
                "env_overrides": self.meta["env_overrides"],  # sessions of one dataset may differ
            }
        )
        write_simreal_meta(self.root, self.meta)
        return index

    def discard_episode(self, *, seed: int | None = None) -> None:
        """Drop the buffered episode (nothing of it reaches the dataset); remember its seed as used."""
        if self.pending_frames:
            self.dataset.clear_episode_buffer()
        if seed is not None:
            self.meta["discarded_seeds"].append(int(seed))
            write_simreal_meta(self.root, self.meta)

    def finalize(self) -> None:
        """Drop any partial episode and flush LeRobot's writers (parquet footers, metadata). Idempotent."""
        if self._finalized:
            return
        if self.pending_frames:
            self.dataset.clear_episode_buffer()
        self.dataset.finalize()
        write_simreal_meta(self.root, self.meta)
        self._finalized = True

    def __enter__(self) -> DatasetRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.finalize()


def _setting_difference(new: dict, old: dict) -> str | None:
    for key in ("task", "controller", "fps"):
        if new[key] != old.get(key):
            return f"{key} {old.get(key)!r} != {new[key]!r}"
    # where episodes end is the dataset's convention, not one expert's (datasets from before it: 0)
    old_after, new_after = ((m.get("expert") or {}).get("post_success_steps", 0) for m in (old, new))
    if old_after != new_after:
        return f"post_success_steps {old_after!r} != {new_after!r}"
    return None


def _observation_difference(new: dict, old: dict) -> str | None:
    old_obs, new_obs = old.get("observation") or {}, _json_roundtrip(new["observation"])
    for key in sorted(set(old_obs) | set(new_obs)):
        if key not in old_obs and new_obs[key] in (False, None):
            continue  # a setting newer than the dataset, left off: what the dataset recorded
        if old_obs.get(key) != new_obs.get(key):
            return f"observation {key} {old_obs.get(key)!r} != {new_obs.get(key)!r}"
    return None


def _json_roundtrip(value: Any) -> Any:
    # The sidecar stores tuples as lists; compare like with like.
    import json

    return json.loads(json.dumps(value, default=lambda v: v.tolist()))


def _repo_id(root: Path) -> str:
    # Local only: LeRobot wants a repo id, nothing is pushed to the Hub.
    return f"simreal/{root.resolve().name}"


def _depth_encoder():
    from lerobot.configs import DepthEncoderConfig

    # LeRobot's lossless 12-bit HEVC, with x265's per-episode banner silenced.
    return DepthEncoderConfig(extra_options={"x265-params": "lossless=1:log-level=error"})


def _quiet_encoders() -> None:
    """Silence per-episode encoder banners and LeRobot's per-episode 'Map' bar (they drown tqdm)."""
    import av
    import datasets

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 reads it when an encoder starts: errors only
    av.logging.set_libav_level(av.logging.ERROR)  # LeRobot restores FFmpeg's own stderr logger
    datasets.disable_progress_bars()


def _skip_embedding_without_images() -> None:
    """Make LeRobot skip its per-row image embedding pass when an episode has no image columns.

    LeRobot 0.6.1's `save_episode` runs `embed_images` (a row-by-row `datasets.map`) on every
    episode; with cameras stored as video there is nothing to embed, yet the pass took 75% of
    `save_episode` for a state-only dataset (measured: 0.24 of 0.32 s per 80-frame episode).
    The replacement returns the episode unchanged in exactly that case and defers to LeRobot
    otherwise, so the files written are the same.
    """
    import datasets
    from lerobot.datasets import dataset_writer

    original = dataset_writer.embed_images
    if getattr(original, "skips_imageless", False):
        return

    def embed_images(dataset):
        if any(isinstance(ft, datasets.Image) for ft in dataset.features.values()):
            return original(dataset)
        return dataset

    embed_images.skips_imageless = True
    dataset_writer.embed_images = embed_images
