"""Each head trains and infers on tiny configs; the loss falls when over-fitting one batch."""

import pytest
import torch
from policy_test_data import TINY, TINY_HEADS, raw_observation, training_batch

from simreal.policies import load_policy, make_policy, make_processors, save_checkpoint
from simreal.policies.encoders import ImageEncoder

HEADS = list(TINY_HEADS)
LOSS_LOG = {"diffusion": "mse", "meanflow": "meanflow_sq_error", "streaming": "mse"}


def tiny_policy(kind, dataset, **overrides):
    torch.manual_seed(0)
    policy = make_policy(
        kind, dataset.meta.features, dataset.meta.stats, **TINY, **TINY_HEADS[kind], **overrides
    )
    return policy, *make_processors(policy.config, dataset.meta.stats)


@pytest.mark.parametrize("kind", HEADS)
def test_head_trains_and_infers_with_the_right_shapes(kind, tiny_dataset):
    policy, pre, _ = tiny_policy(kind, tiny_dataset)
    cfg = policy.config
    assert cfg.type == f"simreal_{kind}"
    assert sorted(cfg.input_features) == ["observation.pointcloud", "observation.state"]
    batch = training_batch(tiny_dataset, cfg, pre, batch_size=4)
    assert batch["action"].shape == (4, cfg.horizon, 8)
    loss, logs = policy.forward(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in policy.unet.parameters())
    per_sample, _ = policy.forward(batch, reduction="none")
    assert per_sample.shape == (4,)

    policy.eval()
    policy.reset()
    step = {k: batch[k][:, -1] for k in cfg.input_features}
    assert policy.predict_action_chunk(step).shape == (4, cfg.n_action_steps, 8)
    policy.reset()
    actions = [policy.select_action(step) for _ in range(cfg.n_action_steps + 1)]
    assert all(a.shape == (4, 8) and torch.isfinite(a).all() for a in actions)
    assert all(a.abs().max() <= cfg.clip_sample_range for a in actions)


def test_raw_state_joins_the_condition_as_it_is(tiny_dataset):
    policy, pre, _ = tiny_policy("diffusion", tiny_dataset, state_encoder="raw")
    cfg = policy.config
    batch = training_batch(tiny_dataset, cfg, pre, batch_size=4)
    state = batch["observation.state"][:, : cfg.n_obs_steps]
    condition = policy.obs_encoder({k: batch[k][:, : cfg.n_obs_steps] for k in cfg.input_features})
    # sorted keys: the point cloud's embedding, then the state, at each observation step
    per_step = condition.view(4, cfg.n_obs_steps, -1)
    assert per_step.shape[-1] == cfg.obs_embed_dim + state.shape[-1]
    torch.testing.assert_close(per_step[..., cfg.obs_embed_dim :], state)
    assert not list(policy.obs_encoder.encoders["observation__state"].parameters())
    loss, _ = policy.forward(batch)
    assert torch.isfinite(loss)


def _eval_loss(policy, batch, key):
    values = []
    for seed in range(4):
        torch.manual_seed(seed)
        values.append(policy.forward(batch)[1][key])
    return sum(values) / len(values)


@pytest.mark.parametrize("kind", HEADS)
def test_loss_falls_when_overfitting_one_batch(kind, tiny_dataset):
    policy, pre, _ = tiny_policy(kind, tiny_dataset)
    batch = training_batch(tiny_dataset, policy.config, pre, batch_size=8)
    before = _eval_loss(policy, batch, LOSS_LOG[kind])
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(200):
        loss, _ = policy.forward(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = _eval_loss(policy, batch, LOSS_LOG[kind])
    assert after < 0.75 * before, (before, after)


@pytest.mark.parametrize("use_amp", [False, True])
def test_image_policy_runs_from_raw_camera_frames(use_amp, tiny_image_dataset, tmp_path):
    policy, pre, post = tiny_policy(
        "diffusion", tiny_image_dataset, sampler="DDIM", num_inference_steps=3, use_amp=use_amp
    )
    assert "observation.images.front" in policy.config.input_features
    loss, _ = policy.forward(training_batch(tiny_image_dataset, policy.config, pre, batch_size=2))
    loss.backward()
    runner = load_policy(save_checkpoint(policy, pre, post, tmp_path / "ckpt"), device="cpu")
    # use_amp (bfloat16 image backbones) is part of the saved config: inference runs as training did.
    image_encoders = [m for m in runner.policy.modules() if isinstance(m, ImageEncoder)]
    assert image_encoders and all(e.mixed_precision == use_amp for e in image_encoders)
    obs = raw_observation(tiny_image_dataset, 3, runner.input_features)
    assert obs["observation.images.front"].dtype.name == "uint8"
    action = runner(obs)
    assert action.shape == (8,) and action.dtype.name == "float32"


def test_temporal_ensembling_replans_every_step(tiny_dataset):
    policy, pre, _ = tiny_policy("diffusion", tiny_dataset, temporal_ensemble_coeff=0.01)
    policy.eval()
    batch = training_batch(tiny_dataset, policy.config, pre, batch_size=2)
    calls = []
    original = policy.plan_actions
    policy.plan_actions = lambda history, noise=None: calls.append(1) or original(history, noise)
    for _ in range(3):
        assert policy.select_action({k: batch[k][:, -1] for k in policy.config.input_features}).shape == (
            2,
            8,
        )
    assert len(calls) == 3


@pytest.mark.parametrize("kind", HEADS)
def test_masked_padding_leaves_padded_actions_out_of_the_loss(kind, tiny_dataset):
    # meanflow: no dispersive term, which is a batch-level loss added to every sample
    extra = {"dispersive_weight": 0.0} if kind == "meanflow" else {}
    policy, pre, _ = tiny_policy(kind, tiny_dataset, mask_padded_actions=True, **extra)
    batch = training_batch(tiny_dataset, policy.config, pre, batch_size=4)
    pad = torch.zeros_like(batch["action_is_pad"])
    pad[0] = True  # sample 0 lies wholly past its episode's end, sample 1 in part
    pad[1, -3:] = True

    def per_sample():
        torch.manual_seed(1)
        with torch.no_grad():
            return policy.forward({**batch, "action_is_pad": pad}, reduction="none")[0]

    masked = per_sample()
    assert masked[0] == 0 and (masked[1:] > 0).all()
    policy.config.mask_padded_actions = False
    unmasked = per_sample()
    assert unmasked[0] > 0 and masked[1] != pytest.approx(unmasked[1].item(), rel=1e-4)
    torch.testing.assert_close(masked[2:], unmasked[2:])
