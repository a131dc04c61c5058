"""The building blocks: U-Net, encoders, execution helpers, the MeanFlow JVP."""

import pytest
import torch
import torchvision
from torch import nn

from simreal.errors import UserError
from simreal.policies import make_config
from simreal.policies.encoders import ImageEncoder, PointCloudEncoder
from simreal.policies.execution import ObservationHistory, TemporalEnsembler
from simreal.policies.unet import ConditionalUnet1D


def test_unet_keeps_the_sequence_shape_and_returns_down_path_latents():
    net = ConditionalUnet1D(action_dim=8, global_cond_dim=12, down_dims=(16, 32, 64), step_embed_dim=16)
    out, latents = net(
        torch.randn(3, 16, 8), torch.tensor([0, 5, 99]), torch.randn(3, 12), return_latents=True
    )
    assert out.shape == (3, 16, 8)
    assert [tuple(x.shape) for x in latents] == [(3, 16, 16), (3, 32, 8), (3, 64, 4)]


def test_unet_film_uses_the_condition():
    torch.manual_seed(0)
    net = ConditionalUnet1D(action_dim=2, global_cond_dim=4, down_dims=(16, 32), step_embed_dim=16)
    x, step = torch.randn(1, 8, 2), torch.tensor([3])
    assert not torch.allclose(net(x, step, torch.zeros(1, 4)), net(x, step, torch.ones(1, 4)))


def test_horizon_must_fit_the_downsampling(tiny_dataset):
    with pytest.raises(UserError, match="multiple of 4"):
        make_config("diffusion", tiny_dataset.meta.features, down_dims=(16, 32, 64), horizon=10)


def test_image_backbone_stages_must_be_one_of_resnet18s_four(tiny_dataset):
    with pytest.raises(UserError, match="image_backbone_stages must be 1, 2, 3 or 4, got 5"):
        make_config("diffusion", tiny_dataset.meta.features, image_backbone_stages=5)


def test_state_encoder_must_be_mlp_or_raw(tiny_dataset):
    with pytest.raises(UserError, match="state_encoder must be 'mlp' or 'raw', got 'linear'"):
        make_config("diffusion", tiny_dataset.meta.features, state_encoder="linear")


def test_point_cloud_encoder_is_order_invariant_and_takes_colour():
    torch.manual_seed(0)
    points = torch.randn(2, 50, 3)
    enc = PointCloudEncoder(3, out_dim=64)
    shuffled = points[:, torch.randperm(50)]
    assert enc(points).shape == (2, 64)
    torch.testing.assert_close(enc(points), enc(shuffled))
    assert PointCloudEncoder(6)(torch.randn(2, 50, 6)).shape == (2, 64)


def test_image_encoder_has_group_norm_and_crops_randomly_only_in_training():
    torch.manual_seed(0)
    enc = ImageEncoder((3, 20, 20), crop_ratio=0.9, num_keypoints=8, out_dim=16)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in enc.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in enc.modules())
    images = torch.rand(4, 3, 20, 20)
    enc.eval()
    torch.testing.assert_close(enc(images), enc(images))
    assert enc._crop(images).shape == (4, 3, 18, 18)
    enc.train()
    crops = {tuple(enc._crop(images[:1]).flatten()[:5].tolist()) for _ in range(20)}
    assert len(crops) > 1


def test_image_encoder_in_mixed_precision_runs_the_backbone_in_bfloat16_and_returns_float32():
    torch.manual_seed(0)
    full = ImageEncoder((3, 32, 32), crop_ratio=0.9, num_keypoints=8, out_dim=16).eval()
    mixed = ImageEncoder((3, 32, 32), crop_ratio=0.9, num_keypoints=8, out_dim=16, mixed_precision=True)
    mixed.load_state_dict(full.state_dict())
    mixed.eval()
    backbone_dtypes = []
    mixed.backbone.register_forward_hook(lambda module, args, out: backbone_dtypes.append(out.dtype))
    images = torch.rand(4, 3, 32, 32)
    out = mixed(images)
    assert backbone_dtypes == [torch.bfloat16] and out.dtype == torch.float32
    torch.testing.assert_close(out, full(images), atol=0.05, rtol=0.05)
    out.square().sum().backward()
    grads = [p.grad for p in mixed.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_image_encoder_trains_channels_last_with_the_same_output_and_default_layout_gradients():
    torch.manual_seed(0)
    enc = ImageEncoder((3, 32, 32), crop_ratio=1.0, num_keypoints=8, out_dim=16)
    layouts = []
    enc.backbone.register_forward_pre_hook(
        lambda module, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    images = torch.rand(4, 3, 32, 32)
    evaluated = enc.eval()(images)
    trained = enc.train()(images)
    assert layouts == [False, True]
    torch.testing.assert_close(trained, evaluated)
    trained.square().sum().backward()
    # default-layout gradients: the parallel trainer flattens and views them back (parallel.average_gradients)
    assert all(p.grad.is_contiguous() for p in enc.parameters())


def test_image_encoder_with_three_backbone_stages_keeps_a_finer_feature_map_and_the_stage_names():
    deep = ImageEncoder((3, 96, 96), crop_ratio=1.0, num_keypoints=8, out_dim=16)
    shallow = ImageEncoder((3, 96, 96), crop_ratio=1.0, num_keypoints=8, out_dim=16, backbone_stages=3)
    images = torch.rand(2, 3, 96, 96)
    assert deep.backbone(images).shape == (2, 512, 3, 3)
    assert shallow.backbone(images).shape == (2, 256, 6, 6)
    assert shallow.eval()(images).shape == (2, 16)
    # the default backbone names its weights as the earlier layout (ResNet-18's children without
    # avgpool and fc) did, so checkpoints saved before the option existed still load; the shallow one's
    # are the first of those names
    before = nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2])
    deep_names = [(name, p.shape) for name, p in deep.backbone.named_parameters()]
    shallow_names = [(name, p.shape) for name, p in shallow.backbone.named_parameters()]
    assert deep_names == [(name, p.shape) for name, p in before.named_parameters()]
    assert shallow_names == deep_names[: len(shallow_names)]
    assert not any(name.startswith("7.") for name, _ in shallow_names)


def test_observation_history_repeats_the_first_step_then_rolls():
    history = ObservationHistory(n_obs_steps=2)
    first = history.push({"s": torch.tensor([[1.0]])})
    assert first["s"].flatten().tolist() == [1.0, 1.0]
    second = history.push({"s": torch.tensor([[2.0]])})
    assert second["s"].flatten().tolist() == [1.0, 2.0]


def test_temporal_ensembler_weights_older_predictions():
    ens = TemporalEnsembler(coeff=0.0, chunk_size=3)
    a1 = ens.update(torch.tensor([[[0.0], [10.0], [20.0]]]))
    a2 = ens.update(torch.tensor([[[4.0], [14.0], [24.0]]]))
    assert a1.item() == 0.0
    assert a2.item() == pytest.approx((10.0 + 4.0) / 2)  # equal weights: plain mean
    ens = TemporalEnsembler(coeff=1.0, chunk_size=3)
    ens.update(torch.tensor([[[0.0], [10.0], [20.0]]]))
    a2 = ens.update(torch.tensor([[[4.0], [14.0], [24.0]]]))
    w0, w1 = 1.0, torch.exp(torch.tensor(-1.0)).item()
    assert a2.item() == pytest.approx((w0 * 10.0 + w1 * 4.0) / (w0 + w1), rel=1e-5)


def test_meanflow_jvp_matches_finite_differences():
    """The total derivative d/dt u(z_t, t, r) along (v, 1, 0) that MeanFlow's target uses, by
    torch.func.jvp and by the U-Net's own forward-mode formulas."""
    torch.manual_seed(0)
    net = ConditionalUnet1D(4, 6, (16, 32), step_embed_dim=16, n_step_inputs=2).double()
    z, v, cond = torch.randn(2, 8, 4).double(), torch.randn(2, 8, 4).double(), torch.randn(2, 6).double()
    t, r = torch.tensor([0.7, 0.4]).double(), torch.tensor([0.2, 0.4]).double()
    u_fn = lambda z_, t_, r_: net(z_, torch.stack([t_, t_ - r_], -1) * 10, cond)
    _, du_dt = torch.func.jvp(u_fn, (z, t, r), (v, torch.ones_like(t), torch.zeros_like(r)))
    steps = torch.stack([t, t - r], -1) * 10
    u, du_dt_unet, _ = net.forward_with_tangent(z, steps, cond, v, torch.full_like(steps, 10.0))
    h = 1e-6
    with torch.no_grad():
        fd = (u_fn(z + h * v, t + h, r) - u_fn(z - h * v, t - h, r)) / (2 * h)
    torch.testing.assert_close(du_dt, fd, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(du_dt_unet, du_dt, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(u, u_fn(z, t, r))
    assert u.requires_grad and not du_dt_unet.requires_grad  # the target is a stop-gradient


@pytest.mark.parametrize("n_step_inputs", [1, 2])
def test_unet_tangent_equals_torch_func_jvp_for_random_directions(n_step_inputs):
    """Every layer type of the U-Net (conv, transposed conv, GroupNorm, Mish, FiLM, the sinusoidal
    step embedding), along random tangents of the sample and of every step input."""
    torch.manual_seed(1)
    net = ConditionalUnet1D(3, 5, (8, 16, 32), step_embed_dim=8, n_step_inputs=n_step_inputs).double()
    for p in net.parameters():  # away from zero-initialised layers, so every term counts
        p.data.normal_(0, 0.3)
    shape = (4, n_step_inputs) if n_step_inputs > 1 else (4,)
    z, z_t, cond = torch.randn(4, 8, 3).double(), torch.randn(4, 8, 3).double(), torch.randn(4, 5).double()
    steps, steps_t = torch.rand(shape).double() * 10, torch.randn(shape).double()
    ref_u, ref_t = torch.func.jvp(lambda a, b: net(a, b, cond), (z, steps), (z_t, steps_t))
    u, u_t, latents = net.forward_with_tangent(z, steps, cond, z_t, steps_t)
    torch.testing.assert_close(u, ref_u)
    torch.testing.assert_close(u_t, ref_t, rtol=1e-9, atol=1e-12)
    assert len(latents) == 3
    assert net.forward_with_tangent(z, steps, cond)[1] is None
    with pytest.raises(ValueError, match="both tangents"):
        net.forward_with_tangent(z, steps, cond, z_t, None)


def test_meanflow_refuses_an_unknown_jvp_method(tiny_dataset):
    with pytest.raises(UserError, match="jvp must be one of unet, torch_func"):
        make_config("meanflow", tiny_dataset.meta.features, jvp="finite_differences")


@pytest.mark.parametrize(
    ("head", "setting", "message"),
    [
        ("diffusion", {"num_inference_steps": 0}, r"num_inference_steps must be in \[1, 100\]"),
        ("diffusion", {"num_inference_steps": 101}, r"num_inference_steps must be in \[1, 100\]"),
        ("streaming", {"eta": 1.5}, r"eta must be in \[0, 1\]"),
        ("streaming", {"num_inference_calls": 0}, r"num_inference_calls must be in \[1, "),
        ("streaming", {"num_inference_calls": 1000}, r"num_inference_calls must be in \[1, "),
        ("streaming", {"num_initial_calls": 0}, r"num_initial_calls must be in \[1, 100\]"),
        ("streaming", {"num_initial_calls": 101}, r"num_initial_calls must be in \[1, 100\]"),
    ],
)
def test_sampler_settings_out_of_range_are_refused(tiny_dataset, head, setting, message):
    with pytest.raises(UserError, match=message):
        make_config(head, tiny_dataset.meta.features, **setting)
