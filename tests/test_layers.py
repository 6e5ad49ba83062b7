"""The building blocks against torch: initialisers for weights of any shape (Linear and conv), Linear/MLP and Conv2d
backprop."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from sb3_scratch_ppo.nn.layers import (
    MLP,
    FlatParameters,
    ReLU,
    Tanh,
    conv2d_shapes,
    linear_shapes,
    orthogonal,
    torch_default_init,
)


@pytest.mark.parametrize("shape", [(64, 4), (2, 64), (1, 64), (32, 4, 8, 8), (8, 3, 2, 2)], ids=str)
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2), 0.01])
def test_orthogonal_init_flattens_like_torch(shape, gain, rng):
    """torch.nn.init.orthogonal_ views the weight as (shape[0], rest): the rows (or columns, whichever are fewer)
    are orthogonal with norm gain, so every singular value of that matrix is the gain, as for torch's."""
    ours = orthogonal(shape, gain, rng)
    ref = nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=gain).numpy()
    assert ours.shape == ref.shape == shape
    flat_ours, flat_ref = ours.reshape(shape[0], -1), ref.reshape(shape[0], -1)
    np.testing.assert_allclose(
        np.linalg.svd(flat_ours, compute_uv=False), np.linalg.svd(flat_ref, compute_uv=False), rtol=1e-10
    )
    np.testing.assert_allclose(np.linalg.svd(flat_ours, compute_uv=False), gain, rtol=1e-10)


@pytest.mark.parametrize("make", [lambda: nn.Linear(48, 16), lambda: nn.Conv2d(3, 16, 4)], ids=["Linear", "Conv2d"])
def test_default_init_has_torchs_bounds(make, rng):
    """torch's default init of Linear and Conv2d: weight and bias uniform in +-1/sqrt(fan_in)."""
    torch.manual_seed(0)
    module = make()
    weight, bias = torch_default_init(tuple(module.weight.shape), rng)
    bound = 1 / math.sqrt(math.prod(module.weight.shape[1:]))
    for ours, ref in ((weight, module.weight), (bias, module.bias)):
        ref = ref.detach().numpy()
        assert ours.shape == ref.shape
        assert np.abs(ours).max() <= bound and np.abs(ref).max() <= bound
    # The whole range is used: 768 weights all below 0.9 of the bound would happen with probability 0.9 ** 768.
    assert np.abs(weight).max() > 0.9 * bound and np.abs(module.weight.detach().numpy()).max() > 0.9 * bound


@pytest.mark.parametrize("activation, torch_activation", [(Tanh(), nn.Tanh()), (ReLU(), nn.ReLU())], ids=["Tanh", "ReLU"])
def test_mlp_backprop_equals_autograd(activation, torch_activation, rng):
    """An MLP on the flat buffers: forward equals torch's Sequential, backprop writes torch's gradients (float64)."""
    sizes = [5, 7, 3]
    shapes = [s for i, (a, b) in enumerate(itertools.pairwise(sizes)) for s in linear_shapes(f"l{i}", a, b)]
    params = FlatParameters(dict(shapes), np.float64)
    params.data[:] = rng.normal(size=params.data.size)
    mlp = MLP([params.linear("l0"), params.linear("l1")], activation)
    ref = nn.Sequential(nn.Linear(5, 7), torch_activation, nn.Linear(7, 3), torch_activation).double()
    with torch.no_grad():
        for i, name in ((0, "l0"), (2, "l1")):
            ref[i].weight.copy_(torch.tensor(params.views[f"{name}.weight"]))
            ref[i].bias.copy_(torch.tensor(params.views[f"{name}.bias"]))
    x, g = rng.normal(size=(6, 5)), rng.normal(size=(6, 3))
    cache: list = []
    np.testing.assert_allclose(mlp.forward(x, cache), ref(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    (ref(torch.tensor(x)) * torch.tensor(g)).sum().backward()
    params.grad[:] = np.nan  # backprop overwrites every gradient
    mlp.backprop(g, cache)
    for i, name in ((0, "l0"), (2, "l1")):
        np.testing.assert_allclose(params.grad_views[f"{name}.weight"], ref[i].weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(params.grad_views[f"{name}.bias"], ref[i].bias.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    ("in_channels", "out_channels", "kernel", "stride", "hw"),
    [
        (4, 32, 8, 4, (84, 84)),  # NatureCNN's three layers on Atari frames
        (32, 64, 4, 2, (20, 20)),
        (64, 64, 3, 1, (9, 9)),
        (3, 5, (3, 2), (2, 1), (11, 8)),  # rectangular kernel and stride, a window that does not tile the input
        (1, 2, 5, 3, (5, 5)),
    ],  # one output position
    ids=str,
)
def test_conv2d_forward_and_backprop_equal_autograd(in_channels, out_channels, kernel, stride, hw, rng):
    """Conv2d (channel-last inside) against torch's nn.Conv2d (channel-first) in float64: the output, dL/dW, dL/db
    and dL/dx, for a loss L = sum(output * G) with a random G."""
    params = FlatParameters(dict(conv2d_shapes("conv", in_channels, out_channels, kernel)), np.float64)
    params.data[:] = rng.standard_normal(params.data.shape)
    conv = params.conv2d("conv", stride)
    x = rng.standard_normal((3, in_channels, *hw))

    ref = nn.Conv2d(in_channels, out_channels, kernel, stride).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(params.views["conv.weight"]))
        ref.bias.copy_(torch.from_numpy(params.views["conv.bias"]))
    x_t = torch.from_numpy(x).requires_grad_()
    z_t = ref(x_t)
    g = rng.standard_normal(z_t.shape)
    (z_t * torch.from_numpy(g)).sum().backward()

    cache = []
    z = conv.forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), cache)
    np.testing.assert_allclose(z.transpose(0, 3, 1, 2), z_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    g_x = conv.backprop(np.ascontiguousarray(g.transpose(0, 2, 3, 1)), cache[0])
    np.testing.assert_allclose(params.grad_views["conv.weight"], ref.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(params.grad_views["conv.bias"], ref.bias.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_x.transpose(0, 3, 1, 2), x_t.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert conv.backprop(np.ascontiguousarray(g.transpose(0, 2, 3, 1)), cache[0], need_input_grad=False) is None
