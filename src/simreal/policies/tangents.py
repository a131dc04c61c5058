"""Forward-mode derivatives (JVPs) of the layers the U-Net is made of, computed beside the forward pass.

`with_tangent(module, x, x_t)` returns `module(x)` and, when `x_t` is given, the directional
derivative of the module at x along x_t. The value keeps its autograd graph; the tangent is computed
without one, because MeanFlow's target, the only user, is a stop-gradient.

Why not `torch.func.jvp`: on CPU (torch 2.11) each operation under forward-mode AD that has a zero
tangent (every weight, bias and constant) infers its output's shape through a Python meta kernel, a
fixed cost of about 0.1-1 ms per operation: 66x a product with a constant, 32x a GroupNorm, 3-5x a
convolution or linear layer of make demo's U-Net (`benchmarks/bench_meanflow_jvp.py`). With these
formulas the U-Net's part of a MeanFlow training step is 1.4-1.6x faster
(benchmarks/results/meanflow_jvp_method.json); tests/policies/test_blocks.py checks them against
torch.func.jvp, and tests/policies/test_meanflow.py the loss and gradients of the two methods.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def with_tangent(module: nn.Module, x: Tensor, x_t: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """(module(x), d module(x)[x_t]); the tangent is None when x_t is."""
    if isinstance(module, nn.Sequential):
        for layer in module:
            x, x_t = with_tangent(layer, x, x_t)
        return x, x_t
    y = module(x)
    if x_t is None:
        return y, None
    with torch.no_grad():
        return y, _tangent(module, x.detach(), x_t)


def _tangent(module: nn.Module, x: Tensor, x_t: Tensor) -> Tensor:
    if isinstance(module, nn.Identity):
        return x_t
    if isinstance(module, nn.Linear):
        return F.linear(x_t, module.weight)
    if isinstance(module, nn.Conv1d):
        m = module
        return F.conv1d(x_t, m.weight, None, m.stride, m.padding, m.dilation, m.groups)
    if isinstance(module, nn.ConvTranspose1d):
        m = module
        return F.conv_transpose1d(
            x_t, m.weight, None, m.stride, m.padding, m.output_padding, m.groups, m.dilation
        )
    if isinstance(module, nn.Mish):  # d/dx x tanh(softplus(x)) = tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2)
        tsp = torch.tanh(F.softplus(x))
        return x_t * (tsp + x * torch.sigmoid(x) * (1 - tsp * tsp))
    if isinstance(module, nn.GroupNorm):
        return _group_norm_tangent(module, x, x_t)
    raise TypeError(f"no forward-mode derivative for {type(module).__name__}")


def _group_norm_tangent(module: nn.GroupNorm, x: Tensor, x_t: Tensor) -> Tensor:
    """x_hat = (x - mean) / std per group: d x_hat = (dx - mean(dx) - x_hat mean(x_hat dx)) / std."""
    groups = (x.shape[0], module.num_groups, -1)
    g, g_t = x.reshape(groups), x_t.reshape(groups)
    var, mean = torch.var_mean(g, dim=-1, keepdim=True, correction=0)
    inv_std = torch.rsqrt(var + module.eps)
    x_hat = (g - mean) * inv_std
    d_hat = inv_std * (g_t - g_t.mean(-1, keepdim=True) - x_hat * (x_hat * g_t).mean(-1, keepdim=True))
    d_hat = d_hat.reshape(x.shape)
    if module.affine:
        d_hat = d_hat * module.weight.view(1, -1, *([1] * (x.ndim - 2)))
    return d_hat
