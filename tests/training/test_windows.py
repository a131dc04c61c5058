"""The batched window reader returns exactly what LeRobot's own per-item reader returns."""

import numpy as np
import pytest
import torch

from simreal.datasets import open_dataset
from simreal.errors import UserError
from simreal.policies import SimrealDiffusionConfig
from simreal.training.data import TrainingWindows, dataset_stats, make_batch_loader, resolve_obs_keys

OBS_DELTAS, ACTION_DELTAS = [-1, 0], list(range(-1, 7))


@pytest.mark.parametrize(
    ("fixture", "keys"),
    [
        ("synthetic_dataset", ["observation.state", "observation.images.front"]),
        ("synthetic_pointcloud_dataset", ["observation.state", "observation.pointcloud"]),
    ],
)
def test_batches_match_lerobot_reader(fixture, keys, request):
    path = request.getfixturevalue(fixture)
    dataset = open_dataset(path)
    windows = TrainingWindows(dataset, keys, OBS_DELTAS, ACTION_DELTAS)
    fps = dataset.meta.fps
    reference = open_dataset(
        path,
        delta_timestamps={
            **{k: [d / fps for d in OBS_DELTAS] for k in keys},
            "action": [d / fps for d in ACTION_DELTAS],
        },
    )
    # first frame (history padded), middle, last frames of an episode (actions padded), next episode
    indices = [0, 10, 22, 23, 24]
    batch = windows[indices]
    for row, index in enumerate(indices):
        item = reference[index]
        for key in [*keys, "action"]:
            assert torch.allclose(batch[key][row], item[key], atol=1e-6), (key, index)
            assert torch.equal(batch[f"{key}_is_pad"][row], item[f"{key}_is_pad"]), (key, index)
    assert batch["action_is_pad"][3].sum() == 6  # last frame: 6 of 8 actions lie past the episode end


def test_obs_aliases_and_missing_features(synthetic_dataset):
    features = open_dataset(synthetic_dataset).meta.features
    assert resolve_obs_keys(["state", "rgb"], features) == ["observation.state", "observation.images.front"]
    assert resolve_obs_keys(["front"], features) == ["observation.images.front"]
    with pytest.raises(UserError, match=r"observation\.pointcloud.*observation\.images\.side"):
        resolve_obs_keys(["state", "pointcloud", "side"], features)


def test_stats_cover_every_key(synthetic_pointcloud_dataset):
    dataset = open_dataset(synthetic_pointcloud_dataset)
    stats = dataset_stats(dataset, ["observation.state", "observation.pointcloud", "action"])
    assert set(stats) == {"observation.state", "observation.pointcloud", "action"}
    states = np.concatenate([dataset.hf_dataset.with_format("numpy")[:]["observation.state"]])
    assert np.allclose(stats["observation.state"]["mean"], states.mean(0), atol=1e-5)


def test_loader_resumes_the_same_batches(synthetic_dataset):
    windows = TrainingWindows(
        open_dataset(synthetic_dataset), ["observation.state"], OBS_DELTAS, ACTION_DELTAS
    )
    kwargs = dict(batch_size=8, seed=3, drop_n_last_frames=2, num_workers=0)
    uninterrupted = _take(make_batch_loader(windows, **kwargs), 12)
    resumed = _take(make_batch_loader(windows, start_step=7, **kwargs), 5)
    for a, b in zip(uninterrupted[7:], resumed, strict=True):
        assert torch.equal(a, b)


def _take(loader, count):
    """Frame indices of the first `count` batches, running over epochs like the training loop."""
    taken = []
    while len(taken) < count:
        taken += [batch["index"] for batch in loader][: count - len(taken)]
    return taken


def test_train_on_episode_tail_starts_windows_at_every_frame(synthetic_dataset):
    """By default an episode's last horizon - n_action_steps - n_obs_steps + 1 frames start no window;
    with train_on_episode_tail its last frame does too."""
    windows = TrainingWindows(
        open_dataset(synthetic_dataset), ["observation.state"], OBS_DELTAS, ACTION_DELTAS
    )
    last_frames = {int(end) - 1 for end in windows.episode_ends}  # episode_ends are exclusive
    for tail, skipped in ((False, 16 - 8 - 2 + 1), (True, 0)):
        config = SimrealDiffusionConfig(
            horizon=16, n_action_steps=8, n_obs_steps=2, train_on_episode_tail=tail
        )
        assert config.drop_n_last_frames == skipped
        loader = make_batch_loader(
            windows, batch_size=8, seed=0, drop_n_last_frames=config.drop_n_last_frames, num_workers=0
        )
        starts = {int(i) for batch in loader for i in batch["index"]}
        assert (last_frames <= starts) is tail
