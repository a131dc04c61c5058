"""Saving and loading: identical actions after a round trip, and clear refusals (schema, stats,
NaN observations, missing features, foreign directories)."""

import json
from unittest.mock import patch

import numpy as np
import pytest
import torch
from policy_test_data import TINY, TINY_HEADS, raw_observation
from safetensors.torch import load_file, save_file

from simreal.errors import UserError
from simreal.policies import load_policy, make_policy, make_processors, save_checkpoint


@pytest.fixture(scope="module")
def checkpoints(tiny_dataset, tmp_path_factory):
    """One saved (untrained, seeded) checkpoint per head."""
    root = tmp_path_factory.mktemp("ckpts")
    out = {}
    for kind in TINY_HEADS:
        torch.manual_seed(0)
        out[kind] = _save_untrained(kind, tiny_dataset, root / kind)
    return out


def _save_untrained(kind, dataset, directory, **overrides):
    """A tiny untrained `kind` policy on `dataset`, saved with its processors to `directory`."""
    stats = dataset.meta.stats
    policy = make_policy(kind, dataset.meta.features, stats, fps=20, **TINY, **TINY_HEADS[kind], **overrides)
    pre, post = make_processors(policy.config, stats)
    return save_checkpoint(policy, pre, post, directory)


def _actions(runner, dataset, n):
    runner.reset()
    actions = []
    for i in range(n):
        torch.manual_seed(i)
        actions.append(runner(raw_observation(dataset, i, runner.input_features)))
    return np.stack(actions)


@pytest.mark.parametrize("kind", list(TINY_HEADS))
def test_reloaded_policy_gives_identical_actions(kind, checkpoints, tiny_dataset):
    ckpt = checkpoints[kind]
    first = load_policy(
        ckpt, device="cpu", features=tiny_dataset.meta.features, stats=tiny_dataset.meta.stats
    )
    assert first.fps == 20 and first.n_action_steps == TINY_HEADS[kind]["n_action_steps"]
    assert sorted(first.input_features) == ["observation.pointcloud", "observation.state"]
    a = _actions(first, tiny_dataset, 5)
    b = _actions(load_policy(ckpt, device="cpu"), tiny_dataset, 5)
    assert a.shape == (5, 8) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    # Actions come back in dataset units: inside the action range (min-max normalization, clipped).
    lo, hi = tiny_dataset.meta.stats["action"]["min"], tiny_dataset.meta.stats["action"]["max"]
    assert (a >= lo - 1e-5).all() and (a <= hi + 1e-5).all()
    assert sorted(p.name for p in ckpt.iterdir()) >= ["config.json", "model.safetensors"]


def test_schema_mismatch_is_refused_by_name(checkpoints, tiny_dataset):
    features = {k: dict(v) for k, v in tiny_dataset.meta.features.items()}
    features["observation.pointcloud"]["shape"] = (64, 3)
    with pytest.raises(UserError, match=r"'observation.pointcloud' has shape \(64, 3\)"):
        load_policy(checkpoints["meanflow"], device="cpu", features=features)
    del features["observation.state"]
    with pytest.raises(UserError, match="missing observation.state"):
        load_policy(checkpoints["meanflow"], device="cpu", features=features)


def test_stats_mismatch_is_refused_by_name(checkpoints, tiny_dataset, tmp_path):
    other = {k: {s: np.asarray(v) for s, v in d.items()} for k, d in tiny_dataset.meta.stats.items()}
    other["action"]["max"] = other["action"]["max"] + 1.0
    with pytest.raises(UserError, match="stats of 'action' differ"):
        load_policy(checkpoints["diffusion"], device="cpu", stats=other)

    # A checkpoint whose saved processors carry other statistics than the policy was trained with.
    import shutil

    tampered = shutil.copytree(checkpoints["diffusion"], tmp_path / "tampered")
    for path in tampered.glob("policy_preprocessor_step_*normalizer*.safetensors"):
        tensors = load_file(path)
        tensors["observation.state.min"] = tensors["observation.state.min"] - 1.0
        save_file(tensors, path)
    with pytest.raises(UserError, match="stats of 'observation.state' differ"):
        load_policy(tampered, device="cpu")


def test_nan_observation_is_refused_never_a_nan_action(checkpoints, tiny_dataset):
    runner = load_policy(checkpoints["streaming"], device="cpu")
    obs = raw_observation(tiny_dataset, 0, runner.input_features)
    obs["observation.state"][3] = np.nan
    with pytest.raises(UserError, match="'observation.state' contains NaN"):
        runner(obs)
    obs = raw_observation(tiny_dataset, 0, runner.input_features)
    del obs["observation.pointcloud"]
    with pytest.raises(UserError, match="lacks observation.pointcloud"):
        runner(obs)


def test_dataset_lacking_needed_features_lists_them(tiny_dataset):
    with pytest.raises(UserError, match="lacks features the policy config needs: observation.images.front"):
        make_policy(
            "diffusion",
            tiny_dataset.meta.features,
            tiny_dataset.meta.stats,
            **TINY,
            obs_keys=["observation.state", "observation.images.front"],
        )


def test_foreign_or_missing_checkpoints_are_refused(tmp_path, checkpoints):
    with pytest.raises(UserError, match="no config.json"):
        load_policy(tmp_path, device="cpu")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    config = json.loads((checkpoints["diffusion"] / "config.json").read_text())
    config["type"] = "no_such_policy"
    (foreign / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="not registered"):
        load_policy(foreign, device="cpu")


def test_predict_chunk_returns_a_whole_chunk_in_dataset_units(checkpoints, tiny_dataset):
    runner = load_policy(checkpoints["diffusion"], device="cpu")
    obs = raw_observation(tiny_dataset, 2, runner.input_features)
    chunk = runner.predict_chunk(obs)
    assert chunk.shape == (runner.n_action_steps, 8) and chunk.dtype == np.float32
    obs["observation.pointcloud"][0, 0] = np.inf
    with pytest.raises(UserError, match="'observation.pointcloud' contains NaN or inf"):
        runner.predict_chunk(obs)


def test_predict_chunk_reads_a_real_history_or_repeats_one_step(checkpoints, tiny_dataset):
    runner = load_policy(checkpoints["diffusion"], device="cpu")
    steps = runner.config.n_obs_steps
    assert steps == 2
    older = raw_observation(tiny_dataset, 1, runner.input_features)
    newer = raw_observation(tiny_dataset, 2, runner.input_features)
    history = {k: np.stack([older[k], newer[k]]) for k in newer}
    repeated = {k: np.stack([newer[k], newer[k]]) for k in newer}

    def chunk(obs):
        runner.reset()
        torch.manual_seed(0)  # the same initial and per-step sampling noise for every call
        return runner.predict_chunk(obs)

    np.testing.assert_allclose(chunk(newer), chunk(repeated), atol=1e-6)
    assert not np.allclose(chunk(history), chunk(repeated), atol=1e-6)
    bad = {**history, "observation.state": history["observation.state"][:, :-1]}
    with pytest.raises(UserError, match=r"\(2, \*\(15,\)\) for its history"):
        runner.predict_chunk(bad)


def test_inference_steps_can_be_replaced_at_load(checkpoints, tiny_dataset):
    saved = load_policy(checkpoints["meanflow"], device="cpu")
    more = load_policy(checkpoints["meanflow"], device="cpu", inference_steps=4)
    assert saved.policy.config.num_inference_steps == 1 and more.policy.config.num_inference_steps == 4
    assert not np.array_equal(_actions(saved, tiny_dataset, 3), _actions(more, tiny_dataset, 3))
    with pytest.raises(UserError, match="inference steps must be >= 1"):
        load_policy(checkpoints["meanflow"], device="cpu", inference_steps=0)


def test_streaming_calls_per_planning_call_can_be_replaced_at_load(checkpoints, tiny_dataset):
    """The tiny streaming head crosses 10 noise levels a planning call: 1 call a level by default."""
    saved = load_policy(checkpoints["streaming"], device="cpu")
    fewer = load_policy(checkpoints["streaming"], device="cpu", inference_steps=2)
    assert saved.policy.config.num_inference_calls is None and fewer.policy.config.num_inference_calls == 2
    with patch.object(fewer.policy.unet, "forward", wraps=fewer.policy.unet.forward) as network:
        fewer.reset()
        fewer.predict_chunk(raw_observation(tiny_dataset, 0, fewer.input_features))
        fewer.predict_chunk(raw_observation(tiny_dataset, 1, fewer.input_features))
    assert network.call_count == 20 + 2 + 2  # the first buffer from pure noise, then 2 calls a plan
    assert not np.array_equal(_actions(saved, tiny_dataset, 3), _actions(fewer, tiny_dataset, 3))
    with pytest.raises(UserError, match=r"streaming policy must be in \[1, 10\]"):
        load_policy(checkpoints["streaming"], device="cpu", inference_steps=11)


def test_action_steps_can_be_replaced_at_load(checkpoints, tiny_dataset):
    """Executing fewer actions per chunk re-plans more often; streaming's buffer cannot."""
    saved = load_policy(checkpoints["diffusion"], device="cpu")
    every_step = load_policy(checkpoints["diffusion"], device="cpu", action_steps=1)
    assert saved.n_action_steps == 4 and every_step.n_action_steps == 1
    for runner, plans in ((saved, 2), (every_step, 6)):
        with patch.object(runner.policy, "plan_actions", wraps=runner.policy.plan_actions) as plan:
            _actions(runner, tiny_dataset, 6)
        assert plan.call_count == plans
    with pytest.raises(UserError, match=r"action steps must be in \[1, 7\]"):
        load_policy(checkpoints["diffusion"], device="cpu", action_steps=8)
    with pytest.raises(UserError, match="streaming head's buffer"):
        load_policy(checkpoints["streaming"], device="cpu", action_steps=1)


@pytest.mark.parametrize("scaled", [False, True])
def test_point_cloud_is_min_max_scaled_only_when_asked_and_stays_so_after_reload(
    scaled, tiny_dataset, tmp_path
):
    """normalize_pointcloud scales each channel of the cloud to [-1, 1] by the dataset's min-max (make
    demo's MeanFlow and diffusion); off, the encoder sees raw metres (DP3). The saved processors keep it."""
    ckpt = _save_untrained("meanflow", tiny_dataset, tmp_path / "ckpt", normalize_pointcloud=scaled)
    raw = torch.stack([tiny_dataset[i]["observation.pointcloud"] for i in range(len(tiny_dataset))])
    stats = tiny_dataset.meta.stats["observation.pointcloud"]
    lo, hi = (torch.as_tensor(stats[k], dtype=torch.float32) for k in ("min", "max"))
    expected = 2 * (raw - lo) / (hi - lo) - 1 if scaled else raw
    for runner in (
        load_policy(ckpt, device="cpu"),
        load_policy(ckpt, device="cpu", stats=tiny_dataset.meta.stats),
    ):
        seen = runner.preprocessor({"observation.pointcloud": raw})["observation.pointcloud"]
        torch.testing.assert_close(seen, expected, atol=1e-5, rtol=0)
    if scaled:
        assert seen.min() >= -1 - 1e-5 and seen.max() <= 1 + 1e-5
