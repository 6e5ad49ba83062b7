"""CnnPolicy's pieces against SB3's own torch modules under autograd, float64 (issue 13)."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN as SB3NatureCNN

from sb3_scratch_ppo.extractors import NatureCNN
from sb3_scratch_ppo.layers import FlatParameters


def bound_to(ours, sb3_module, prefix="features_extractor"):
    """Our extractor on flat float64 buffers holding the SB3 module's weights (same names after the prefix)."""
    params = FlatParameters(OrderedDict(ours.parameter_shapes(prefix)), np.float64)
    state = sb3_module.state_dict()
    assert [name.removeprefix(prefix + ".") for name in params.views] == list(state)  # SB3's names, SB3's order
    for name, view in params.views.items():
        view[:] = state[name.removeprefix(prefix + ".")].numpy()
    ours.bind(params, prefix)
    return params


@pytest.mark.parametrize(("shape", "batch", "features_dim"), [((4, 84, 84), 2, 512), ((3, 36, 41), 3, 16)], ids=str)
def test_nature_cnn_features_and_gradients_equal_sb3(shape, batch, features_dim, rng):
    space = spaces.Box(0, 255, shape, np.uint8)
    torch.manual_seed(0)
    ref = SB3NatureCNN(space, features_dim).double()
    ours = NatureCNN(space, features_dim)
    params = bound_to(ours, ref)
    obs = rng.integers(0, 256, (batch, *shape), dtype=np.uint8)
    x = ours.preprocess(obs).astype(np.float64)
    np.testing.assert_array_equal(x, obs.astype(np.float32) / np.float32(255))  # SB3's obs.float() / 255.0

    x_t = torch.from_numpy(x).requires_grad_()
    features_t = ref(x_t)
    g = rng.standard_normal(features_t.shape)
    (features_t * torch.from_numpy(g)).sum().backward()

    cache = []
    features = ours.forward(x, cache)
    np.testing.assert_allclose(features, features_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    g_x = ours.backprop(g, cache, need_input_grad=True)
    for name, param in ref.named_parameters():
        np.testing.assert_allclose(params.grad_views[f"features_extractor.{name}"], param.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(g_x, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert ours.n_flatten == ref.linear[0].in_features


def test_nature_cnn_refuses_what_sb3_refuses():
    with pytest.raises(AssertionError, match="You should use NatureCNN only with images"):
        NatureCNN(spaces.Box(-1, 1, (3, 40, 40), np.float32))
    with pytest.raises(AssertionError, match=r"gym\.spaces\.Box"):
        NatureCNN(spaces.Discrete(3))
    with pytest.raises(ValueError, match="too small"):
        NatureCNN(spaces.Box(0, 255, (3, 30, 40), np.uint8))
    NatureCNN(spaces.Box(-1, 1, (3, 40, 40), np.float32), normalized_image=True)  # no dtype or bounds check then


def dict_space(sort_keys=True):
    pairs = [("vec", spaces.Box(-2, 2, (3,), np.float32)), ("img", spaces.Box(0, 255, (3, 36, 36), np.uint8)),
             ("disc", spaces.Discrete(4)), ("a_multi", spaces.MultiDiscrete([2, 3])),
             ("img2", spaces.Box(0, 255, (1, 40, 36), np.uint8))]
    return spaces.Dict(dict(pairs)) if sort_keys else spaces.Dict(OrderedDict(pairs))


@pytest.mark.parametrize("sort_keys", [True, False], ids=["sorted keys", "insertion order"])
def test_combined_extractor_preprocessing_features_and_gradients_equal_sb3(sort_keys, rng):
    from stable_baselines3.common.preprocessing import preprocess_obs
    from stable_baselines3.common.torch_layers import CombinedExtractor as SB3CombinedExtractor

    from sb3_scratch_ppo.extractors import CombinedExtractor

    space = dict_space(sort_keys)
    space.seed(0)
    torch.manual_seed(0)
    ref = SB3CombinedExtractor(space, cnn_output_dim=8).double()
    ours = CombinedExtractor(space, cnn_output_dim=8)
    assert list(ours.extractors) == list(ref.extractors) == list(space.spaces)  # the space's key order
    assert ours.features_dim == ref.features_dim == 8 + 8 + 3 + 4 + 5
    params = bound_to(ours, ref)

    batch = 4
    obs = {key: np.stack([sub.sample() for _ in range(batch)]) for key, sub in space.spaces.items()}
    x = ours.preprocess(obs)
    x_ref = preprocess_obs({k: torch.as_tensor(v) for k, v in obs.items()}, space)
    for key in space.spaces:
        np.testing.assert_array_equal(x[key].reshape(batch, -1), x_ref[key].numpy().reshape(batch, -1), err_msg=key)

    x64 = {k: v.astype(np.float64) for k, v in x.items()}
    x_t = {k: torch.from_numpy(v) for k, v in x64.items()}
    features_t = ref(x_t)
    g = rng.standard_normal(features_t.shape)
    (features_t * torch.from_numpy(g)).sum().backward()
    cache = {}
    np.testing.assert_allclose(ours.forward(x64, cache), features_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    ours.backprop(g, cache)
    for name, param in ref.named_parameters():
        np.testing.assert_allclose(params.grad_views[f"features_extractor.{name}"], param.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
