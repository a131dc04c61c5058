"""Training windows read from a LeRobotDataset: T_o observation steps and a T_p-step action window.

LeRobot's per-item reader turns every array cell into a Python list and back into a tensor (about
40 ms for one sample with a 512-point cloud on this machine), so a batch of 64 took seconds. This
reader gathers a whole batch of rows from the same memory-mapped Arrow table with one `take` per
column and flattens the nested lists straight into numpy (no Python lists on the way: 17 ms of CPU
for a batch of 64 windows of 128-point clouds and 16 actions, where the `datasets` numpy formatter
took 370 ms; benchmarks/bench_data_reader.py), and decodes video frames with LeRobot's own decoder.
Window indices and padding masks follow LeRobot's rules: indices outside the episode clamp to its
first/last frame and are flagged in ``<key>_is_pad``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import torch
from lerobot.datasets.compute_stats import get_feature_stats
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.datasets.sampler import EpisodeAwareSampler, compute_sampler_state
from lerobot.datasets.video_utils import decode_video_frames

from simreal.datasets.reading import column_to_numpy
from simreal.errors import UserError
from simreal.training.parallel import ALONE, BatchSlice, Rank

ACTION = "action"
# Short names accepted by --obs, each expanding to the dataset features with that prefix.
OBS_ALIASES = {
    "state": ("observation.state",),
    "env_state": ("observation.environment_state",),
    "pointcloud": ("observation.pointcloud",),
    "rgb": ("observation.images.",),
    "image": ("observation.images.",),
    "images": ("observation.images.",),
    "depth": ("observation.depth.",),
}


def resolve_obs_keys(tokens: Sequence[str], features: dict[str, dict]) -> list[str]:
    """Map --obs tokens (aliases, camera names or full feature names) to dataset feature keys.

    Raises UserError listing every requested key the dataset lacks (and "action" if it is missing).
    """
    keys: list[str] = []
    missing: list[str] = []
    for token in tokens:
        token = token.strip()
        if not token:
            continue
        if token in OBS_ALIASES:
            prefixes = OBS_ALIASES[token]
        elif token.startswith("observation."):
            prefixes = (token,)
        else:  # a bare camera name
            prefixes = (f"observation.images.{token}",)
        found = [
            k for k in features if any(k == p or (p.endswith(".") and k.startswith(p)) for p in prefixes)
        ]
        if not found:
            missing.append(prefixes[0] + ("*" if prefixes[0].endswith(".") else ""))
        keys += [k for k in sorted(found) if k not in keys]
    if ACTION not in features:
        missing.append(ACTION)
    if missing:
        available = ", ".join(k for k in features if k.startswith("observation.")) or "none"
        raise UserError(f"dataset lacks required features {', '.join(missing)} (it has: {available})")
    if not keys:
        raise UserError("--obs selected no observation features")
    return keys


def dataset_stats(dataset: LeRobotDataset, keys: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """Normalisation stats of `keys` from meta/stats.json, computed from the data where absent."""
    stats = {k: v for k, v in (dataset.meta.stats or {}).items() if k in keys}
    for key in keys:
        if key not in stats:
            if dataset.meta.features[key]["dtype"] in ("video", "image"):
                raise UserError(f"dataset has no stats for {key}: re-finalize it with LeRobot")
            column = dataset.hf_dataset.with_format("numpy", columns=[key])[:][key].astype(np.float32)
            axes = tuple(range(column.ndim - 1))
            stats[key] = get_feature_stats(column, axis=axes, keepdims=column.ndim > 2)
    return stats


class TrainingWindows(torch.utils.data.Dataset):
    """Map-style dataset whose items are whole batches: ``windows[list_of_frame_indices] -> dict``.

    Each frame index i yields, per observation key, the frames i+d for d in `obs_deltas` (shape
    (B, T_o, ...)), and the actions i+d for d in `action_deltas` (shape (B, T_p, action_dim)).
    Images come back as float32 (B, T_o, C, H, W) in [0, 1].
    """

    def __init__(
        self,
        dataset: LeRobotDataset,
        obs_keys: Sequence[str],
        obs_deltas: Sequence[int],
        action_deltas: Sequence[int],
    ) -> None:
        self.dataset = dataset
        self.obs_keys = list(obs_keys)
        self.deltas = {k: np.asarray(obs_deltas, dtype=np.int64) for k in self.obs_keys}
        self.deltas[ACTION] = np.asarray(action_deltas, dtype=np.int64)
        features = dataset.meta.features
        self.video_keys = [k for k in self.obs_keys if features[k]["dtype"] == "video"]
        self.array_keys = [k for k in self.deltas if k not in self.video_keys]
        self.shapes = {k: tuple(features[k]["shape"]) for k in self.array_keys}
        if len(dataset.hf_dataset.data) != len(dataset.hf_dataset):  # rows selected through an index map
            raise UserError("training reads whole datasets; this one has a row selection applied")
        episodes = dataset.meta.episodes
        self.episode_starts = np.asarray(episodes["dataset_from_index"], dtype=np.int64)
        self.episode_ends = np.asarray(episodes["dataset_to_index"], dtype=np.int64)
        column = dataset.hf_dataset.with_format("numpy", columns=["episode_index", "timestamp"])[:]
        self.frame_episode = column["episode_index"].astype(np.int64)
        self.frame_time = column["timestamp"].astype(np.float64)

    def __len__(self) -> int:
        return len(self.frame_episode)

    def __getitem__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        idx = np.asarray(indices, dtype=np.int64)
        episode = self.frame_episode[idx]
        start, end = self.episode_starts[episode], self.episode_ends[episode]
        batch: dict[str, torch.Tensor] = {
            "index": torch.from_numpy(idx),
            "episode_index": torch.from_numpy(episode),
        }
        for key, deltas in self.deltas.items():
            wanted = idx[:, None] + deltas[None, :]
            batch[f"{key}_is_pad"] = torch.from_numpy((wanted < start[:, None]) | (wanted >= end[:, None]))
            query = np.clip(wanted, start[:, None], end[:, None] - 1)
            if key in self.video_keys:
                batch[key] = self._decode(key, episode, query)
            else:
                # the memory-mapped table: pickled by path, so each DataLoader worker maps it itself
                column = self.dataset.hf_dataset.data.column(key).take(pa.array(query.reshape(-1)))
                values = np.array(column_to_numpy(column, self.shapes[key]), dtype=np.float32)  # writable
                batch[key] = torch.from_numpy(values).reshape(*query.shape, *self.shapes[key])
        return batch

    def _decode(self, key: str, episode: np.ndarray, query: np.ndarray) -> torch.Tensor:
        meta = self.dataset.meta
        frames = []
        for ep, rows in zip(episode.tolist(), query, strict=True):
            offset = meta.episodes[ep][f"videos/{key}/from_timestamp"]
            path = self.dataset.root / meta.get_video_file_path(ep, key)
            times = (offset + self.frame_time[rows]).tolist()
            frames.append(decode_video_frames(path, times, self.dataset.tolerance_s))
        return torch.stack(frames)


def make_batch_loader(
    windows: TrainingWindows,
    *,
    batch_size: int,
    seed: int,
    drop_n_last_frames: int,
    num_workers: int,
    start_step: int = 0,
    rank: Rank = ALONE,
) -> torch.utils.data.DataLoader:
    """A shuffled, epoch-seeded loader of batches that resumes sample-exactly at `start_step`.

    The order is LeRobot's EpisodeAwareSampler (a pure function of seed and epoch), so a resumed run
    sees the same batches the uninterrupted run would have seen. In a data-parallel run every rank
    walks the same order and loads only its slice of each batch of `batch_size`.
    """
    sampler = EpisodeAwareSampler(
        windows.episode_starts.tolist(),
        windows.episode_ends.tolist(),
        drop_n_last_frames=drop_n_last_frames,
        shuffle=True,
        seed=seed,
    )
    if len(sampler) == 0:
        raise UserError("dataset episodes are too short for the policy's action horizon")
    if start_step > 0:
        sampler.load_state_dict(compute_sampler_state(start_step, len(sampler), batch_size, 1))
    batches = torch.utils.data.BatchSampler(sampler, batch_size=batch_size, drop_last=False)
    if rank.parallel:
        batches = BatchSlice(batches, rank)
    return torch.utils.data.DataLoader(
        windows,
        sampler=batches,
        batch_size=None,  # items are already batches
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        prefetch_factor=2 if num_workers > 0 else None,
        # Its own generator: starting an epoch must not draw from the global RNG, or a resumed run
        # would diverge from the uninterrupted one.
        generator=torch.Generator().manual_seed(seed),
    )
