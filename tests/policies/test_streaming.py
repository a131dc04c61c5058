"""Streaming Diffusion Policy: noise levels, the rolling buffer (shift and append, re-noised past,
first chunk clean), persistence between calls and reset."""

import torch
from policy_test_data import TINY, training_batch

from simreal.policies import make_policy, make_processors
from simreal.policies.streaming_schedule import (
    StreamingSchedule,
    add_noise_per_position,
    denoise_step_per_position,
)


def test_sdp_levels_for_the_paper_defaults():
    s = StreamingSchedule(horizon=20, n_obs_steps=2, n_action_steps=8, num_train_timesteps=100)
    assert s.n_chunks == 2 and s.levels_per_call == 50
    pre, post = s.pre_levels.tolist(), s.post_levels.tolist()
    assert pre == [49] * 9 + [99] * 8 + [99] * 3  # past + chunk 0, chunk 1, beyond the chunks
    assert post == [-1] * 9 + [49] * 8 + [99] * 3  # the first chunk (and the past) is clean
    # After shifting by T_a, the denoised levels line up with the next call's starting levels.
    assert post[8 + 1 : 17] == pre[1:9]


def test_training_levels_mix_chunkwise_and_constant():
    torch.manual_seed(0)
    s = StreamingSchedule(horizon=20, n_obs_steps=2, n_action_steps=8, num_train_timesteps=100)
    levels = s.training_levels(4000, chunkwise_fraction=0.8, device=torch.device("cpu"))
    assert levels.min() >= 0 and levels.max() <= 99
    constant = (levels == levels[:, :1]).all(dim=1)
    assert 0.15 < constant.float().mean().item() < 0.25
    chunkwise = levels[~constant]
    assert ((chunkwise[:, 1:9] >= 0) & (chunkwise[:, 1:9] <= 49)).all()
    assert ((chunkwise[:, 9:17] >= 50) & (chunkwise[:, 9:17] <= 99)).all()
    assert (chunkwise[:, 17:] == 99).all()


def _streaming_policy(dataset, **overrides):
    torch.manual_seed(0)
    settings = {"horizon": 8, "n_action_steps": 3, "num_train_timesteps": 20, "num_initial_calls": 5}
    policy = make_policy(
        "streaming", dataset.meta.features, dataset.meta.stats, **TINY, **{**settings, **overrides}
    )
    pre, _ = make_processors(policy.config, dataset.meta.stats)
    return policy.eval(), pre


def test_shift_appends_fresh_noise_and_keeps_the_renoised_past(tiny_dataset):
    policy, _ = _streaming_policy(tiny_dataset)
    t_a = policy.config.n_action_steps
    denoised = torch.randn(2, 8, 8)
    fresh = torch.randn(2, t_a, 8)
    torch.manual_seed(1)
    shifted = policy.shift(denoised, fresh)
    assert torch.equal(shifted[:, -t_a:], fresh)
    assert torch.equal(shifted[:, 1 : 8 - t_a], denoised[:, 1 + t_a :])
    # The past position (the last executed action) is re-noised to chunk 0's level, and kept.
    torch.manual_seed(1)
    expected = add_noise_per_position(
        denoised[:, t_a : t_a + 1],
        torch.randn(2, 1, 8),
        policy.schedule.pre_levels[:1],
        policy.alphas_cumprod,
    )
    torch.testing.assert_close(shifted[:, :1], expected)
    assert not torch.allclose(shifted[:, :1], denoised[:, t_a : t_a + 1])


def test_buffer_persists_between_calls_and_reset_clears_it(tiny_dataset):
    policy, pre = _streaming_policy(tiny_dataset)
    cfg = policy.config
    batch = training_batch(tiny_dataset, cfg, pre, batch_size=2)
    step = {k: batch[k][:, -1] for k in cfg.input_features}
    assert policy.buffer is None
    chunk = policy.predict_action_chunk(step)
    assert chunk.shape == (2, cfg.n_action_steps, 8)
    first_buffer = policy.buffer.clone()
    # The next call continues from the stored buffer: its output is the denoised stored chunk 1,
    # which a fresh buffer (different noise) would not give.
    torch.manual_seed(5)
    continued = policy.predict_action_chunk(step)
    policy.buffer = first_buffer.clone()
    torch.manual_seed(5)
    assert torch.equal(policy.predict_action_chunk(step), continued)
    policy.buffer = torch.randn_like(first_buffer)
    torch.manual_seed(5)
    assert not torch.allclose(policy.predict_action_chunk(step), continued)
    policy.reset()
    assert policy.buffer is None


def test_select_action_emits_clean_actions_one_per_call(tiny_dataset):
    policy, pre = _streaming_policy(tiny_dataset)
    cfg = policy.config
    post = policy.schedule.post_levels[policy.schedule.first_chunk]
    assert (post == -1).all()  # every emitted action is fully denoised
    batch = training_batch(tiny_dataset, cfg, pre, batch_size=1)
    step = {k: batch[k][:, -1] for k in cfg.input_features}
    updates = []
    original = policy.plan_actions
    policy.plan_actions = lambda history, noise=None: updates.append(1) or original(history, noise)
    actions = [policy.select_action(step) for _ in range(2 * cfg.n_action_steps)]
    assert all(a.shape == (1, 8) for a in actions)
    assert len(updates) == 2  # one buffer update per n_action_steps actions


def test_eta_zero_update_is_deterministic_and_eta_one_adds_noise():
    torch.manual_seed(0)
    alphas_cumprod = torch.linspace(0.99, 0.01, 20)
    sample, prediction = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    levels, next_levels = torch.full((6,), 5), torch.tensor([2, 2, 2, 2, 5, 5])

    def step(eta, noise):
        return denoise_step_per_position(
            prediction, sample, levels, next_levels, alphas_cumprod, "sample", eta, None, noise
        )

    noise_a, noise_b = torch.randn_like(sample), torch.randn_like(sample)
    assert torch.equal(step(0.0, noise_a), step(0.0, noise_b))
    assert not torch.allclose(step(1.0, noise_a)[:, :4], step(1.0, noise_b)[:, :4])
    # Positions whose level does not move keep their sample, whatever eta.
    assert torch.equal(step(1.0, noise_a)[:, 4:], sample[:, 4:])
