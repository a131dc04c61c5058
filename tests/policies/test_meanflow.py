"""MeanFlow specifics: (t, r) sampling, the dispersive loss, the two JVP methods, one-step sampling
of a bimodal toy."""

import torch
from lerobot.configs import FeatureType, PolicyFeature
from policy_test_data import TINY, TINY_HEADS, training_batch

from simreal.policies import make_policy, make_processors
from simreal.policies.modeling_meanflow import dispersive_loss, sample_time_pairs


def test_time_pairs_are_ordered_and_half_equal():
    torch.manual_seed(0)
    t, r = sample_time_pairs(20000, mean=-0.4, std=1.0, equal_fraction=0.5, device=torch.device("cpu"))
    assert (t >= r).all() and (t > 0).all() and (t < 1).all()
    assert abs((t == r).float().mean().item() - 0.5) < 0.02


def test_dispersive_loss_is_lower_for_spread_latents():
    torch.manual_seed(0)
    clustered = [torch.randn(1, 8, 4).expand(16, -1, -1) + 0.01 * torch.randn(16, 8, 4)]
    spread = [torch.randn(16, 8, 4)]
    assert dispersive_loss(spread, tau=1.0) < dispersive_loss(clustered, tau=1.0)


def test_loss_and_gradients_do_not_depend_on_the_jvp_method(tiny_dataset):
    """config.jvp = "unet" (the U-Net's forward-mode formulas) trains exactly like torch.func.jvp."""
    stats = tiny_dataset.meta.stats
    results = {}
    for method in ("unet", "torch_func"):
        torch.manual_seed(0)
        policy = make_policy(
            "meanflow", tiny_dataset.meta.features, stats, **TINY, **TINY_HEADS["meanflow"], jvp=method
        )
        batch = training_batch(tiny_dataset, policy.config, make_processors(policy.config, stats)[0])
        torch.manual_seed(1)
        loss, logs = policy.forward(batch)
        loss.backward()
        results[method] = loss.detach(), [p.grad for p in policy.parameters() if p.grad is not None]
    (loss_unet, grads_unet), (loss_func, grads_func) = results["unet"], results["torch_func"]
    assert "dispersive" in logs  # the latents reach the loss by both methods
    torch.testing.assert_close(loss_unet, loss_func)
    assert len(grads_unet) == len(grads_func) > 0
    for a, b in zip(grads_unet, grads_func, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_one_step_sampler_recovers_both_modes_of_a_bimodal_toy():
    """Actions are +0.7 or -0.7 (normalized units) with equal odds under one fixed observation; a
    mode-averaging regressor would output 0. One network evaluation must land on both modes."""
    torch.manual_seed(0)
    features = {
        "observation.state": PolicyFeature(FeatureType.STATE, (1,)),
        "action": PolicyFeature(FeatureType.ACTION, (1,)),
    }
    stats = {"observation.state": {"min": [0.0], "max": [1.0]}, "action": {"min": [-1.0], "max": [1.0]}}
    policy = make_policy(
        "meanflow",
        features,
        stats,
        down_dims=(32, 64),
        step_embed_dim=32,
        obs_embed_dim=16,
        horizon=4,
        n_action_steps=3,
        cond_dropout=0.0,
        dispersive_weight=0.0,
        device="cpu",
    )
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3, weight_decay=0.0)
    batch_size = 64
    for _ in range(400):
        sign = torch.where(torch.rand(batch_size) < 0.5, -1.0, 1.0)
        batch = {
            "observation.state": torch.zeros(batch_size, 2, 1),
            "action": (0.7 * sign).view(-1, 1, 1).expand(-1, 4, 1).clone(),
        }
        loss, _ = policy.forward(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()
    assert policy.config.num_inference_steps == 1
    with torch.no_grad():
        cond = policy.obs_encoder({"observation.state": torch.zeros(1000, 2, 1)})
        first = policy.sample_trajectory(cond)[:, 0, 0]
    positive, negative = (first > 0.35).float().mean().item(), (first < -0.35).float().mean().item()
    near_a_mode = ((first.abs() - 0.7).abs() < 0.25).float().mean().item()
    assert positive > 0.25 and negative > 0.25, (positive, negative)
    assert near_a_mode > 0.6, near_a_mode
