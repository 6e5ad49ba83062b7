"""CnnPolicy's pieces against SB3's own torch modules under autograd, float64."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN as SB3NatureCNN

from sb3_scratch_ppo.nn.extractors import NatureCNN
from sb3_scratch_ppo.nn.layers import FlatParameters


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
    x = ours.preprocess(obs)
    assert x.dtype == np.uint8  # stored raw; forward makes it floats, as SB3's preprocess_obs (obs.float() / 255)

    x_t = (torch.from_numpy(obs).double() / 255.0).requires_grad_()
    features_t = ref(x_t)
    g = rng.standard_normal(features_t.shape)
    (features_t * torch.from_numpy(g)).sum().backward()

    cache = []
    features = ours.forward(x, cache)
    np.testing.assert_allclose(features, features_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    g_x = ours.backprop(g, cache, need_input_grad=True)
    for name, param in ref.named_parameters():
        np.testing.assert_allclose(
            params.grad_views[f"features_extractor.{name}"], param.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )
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
    pairs = [
        ("vec", spaces.Box(-2, 2, (3,), np.float32)),
        ("img", spaces.Box(0, 255, (3, 36, 36), np.uint8)),
        ("disc", spaces.Discrete(4)),
        ("a_multi", spaces.MultiDiscrete([2, 3])),
        ("img2", spaces.Box(0, 255, (1, 40, 36), np.uint8)),
    ]
    return spaces.Dict(dict(pairs)) if sort_keys else spaces.Dict(OrderedDict(pairs))


@pytest.mark.parametrize("sort_keys", [True, False], ids=["sorted keys", "insertion order"])
def test_combined_extractor_preprocessing_features_and_gradients_equal_sb3(sort_keys, rng):
    from stable_baselines3.common.preprocessing import preprocess_obs
    from stable_baselines3.common.torch_layers import CombinedExtractor as SB3CombinedExtractor

    from sb3_scratch_ppo.nn.extractors import CombinedExtractor

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
        if key in ours.cnn_keys:  # images are stored raw; the CNN divides by 255 in its forward, as SB3 before it
            np.testing.assert_array_equal(ours.extractors[key].to_float(x[key]).astype(np.float32), x_ref[key].numpy())
            assert x[key].dtype == np.uint8
        else:
            np.testing.assert_array_equal(x[key], x_ref[key].numpy().reshape(batch, -1), err_msg=key)

    x64 = {k: v if k in ours.cnn_keys else v.astype(np.float64) for k, v in x.items()}
    x_t = {k: torch.from_numpy(v.astype(np.float64) / (255.0 if k in ours.cnn_keys else 1.0)) for k, v in x.items()}
    features_t = ref(x_t)
    g = rng.standard_normal(features_t.shape)
    (features_t * torch.from_numpy(g)).sum().backward()
    cache = {}
    np.testing.assert_allclose(ours.forward(x64, cache), features_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    ours.backprop(g, cache)
    for name, param in ref.named_parameters():
        np.testing.assert_allclose(
            params.grad_views[f"features_extractor.{name}"], param.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )


# --- the whole PPO loss through CnnPolicy and MultiInputPolicy, shared extractor or not ------------------------------


def sb3_policy_with_our_weights(ours, sb3_class, policy_kwargs):
    ref = sb3_class(ours.observation_space, ours.action_space, lambda _: 1e-3, **policy_kwargs).double()
    state = ours.state_dict()  # SB3's keys: the extractor's three groups
    assert list(state) == list(ref.state_dict())
    with torch.no_grad():
        ref.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float64)) for k, v in ours.state_views().items()})
    return ref


def sb3_evaluate_float64(ref, x, actions):
    """SB3's evaluate_actions from float64 network inputs (its preprocess_obs casts to float32, so it starts after)."""
    if ref.share_features_extractor:
        latent_pi, latent_vf = ref.mlp_extractor(ref.features_extractor(x))
    else:
        latent_pi = ref.mlp_extractor.forward_actor(ref.pi_features_extractor(x))
        latent_vf = ref.mlp_extractor.forward_critic(ref.vf_features_extractor(x))
    dist = ref._get_action_dist_from_latent(latent_pi)
    return ref.value_net(latent_vf).flatten(), dist.log_prob(actions), dist.entropy()


@pytest.mark.parametrize("policy", ["CnnPolicy", "MultiInputPolicy"])
@pytest.mark.parametrize("share", [True, False], ids=["shared", "separate vf extractor"])
@pytest.mark.parametrize("action", ["Discrete", "Box"])
def test_ppo_loss_backward_through_cnn_and_multi_input_policies_equals_autograd(policy, share, action, rng):
    """Every parameter's gradient of the whole PPO loss (clipped surrogate, clipped value loss, entropy), SB3's
    policy under autograd as the reference: with a shared extractor all three losses reach the CNN; with a separate
    one the value loss alone reaches the vf CNN."""
    from stable_baselines3.common.policies import ActorCriticCnnPolicy as SB3Cnn
    from stable_baselines3.common.policies import MultiInputActorCriticPolicy as SB3MultiInput

    from sb3_scratch_ppo.loss import ppo_loss
    from sb3_scratch_ppo.policies import ActorCriticCnnPolicy, MultiInputActorCriticPolicy
    from sb3_scratch_ppo.rollout import Minibatch

    action_space = spaces.Discrete(4) if action == "Discrete" else spaces.Box(-1, 1, (2,), np.float32)
    if policy == "CnnPolicy":
        obs_space, ours_cls, sb3_cls = spaces.Box(0, 255, (2, 36, 38), np.uint8), ActorCriticCnnPolicy, SB3Cnn
        kwargs = dict(features_extractor_kwargs=dict(features_dim=24))
    else:
        obs_space, ours_cls, sb3_cls = dict_space(), MultiInputActorCriticPolicy, SB3MultiInput
        kwargs = dict(features_extractor_kwargs=dict(cnn_output_dim=12), net_arch=[16])
    kwargs["share_features_extractor"] = share
    ours = ours_cls(obs_space, action_space, lambda _: 1e-3, seed=1, dtype=np.float64, **kwargs)
    ours.params[:] += rng.normal(size=ours.params.size) * 0.05
    ref = sb3_policy_with_our_weights(ours, sb3_cls, kwargs)
    if not share:
        assert any(name.startswith("vf_features_extractor.") for name in ours.param_views)

    n = 24
    obs_space.seed(3)
    samples = [obs_space.sample() for _ in range(n)]
    obs = (
        {k: np.stack([s[k] for s in samples]) for k in obs_space.spaces}
        if isinstance(obs_space, spaces.Dict)
        else np.stack(samples)
    )
    x = ours.preprocess(obs)
    cnn_keys = getattr(ours.features_extractor, "cnn_keys", None)
    if cnn_keys is None:
        x_t = torch.from_numpy(obs.astype(np.float64) / 255.0)
    else:
        x_t = {k: torch.from_numpy(v.astype(np.float64) / (255.0 if k in cnn_keys else 1.0)) for k, v in x.items()}
    actions = rng.integers(0, 4, n) if action == "Discrete" else rng.uniform(-1, 1, (n, 2))
    with torch.no_grad():
        values_now, lp_now, _ = sb3_evaluate_float64(ref, x_t, torch.tensor(actions))
    old_log_prob = lp_now.numpy() + rng.normal(size=n) * 0.3
    old_values = values_now.numpy() + rng.normal(size=n) * 0.1
    advantages, returns = rng.normal(size=n), rng.normal(size=n)
    clip_range, clip_range_vf, ent_coef, vf_coef = 0.2, 0.1, 0.01, 0.5

    values, log_prob, entropy = sb3_evaluate_float64(ref, x_t, torch.tensor(actions))
    adv = torch.tensor(advantages)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = torch.exp(log_prob - torch.tensor(old_log_prob))
    policy_loss = -torch.min(adv * ratio, adv * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
    old_v = torch.tensor(old_values)
    value_loss = torch.nn.functional.mse_loss(
        torch.tensor(returns), old_v + torch.clamp(values - old_v, -clip_range_vf, clip_range_vf)
    )
    loss_t = policy_loss - ent_coef * entropy.mean() + vf_coef * value_loss
    loss_t.backward()

    terms = ppo_loss(
        ours,
        Minibatch(x, actions, old_values, old_log_prob, advantages, returns),
        clip_range,
        clip_range_vf,
        ent_coef,
        vf_coef,
        True,
    )
    assert terms.loss == pytest.approx(loss_t.item(), rel=1e-9)
    terms.backprop()
    expected = {name: p.grad.numpy() for name, p in ref.named_parameters()}
    assert list(expected) == list(ours.grad_views)  # SB3's parameters() order: Adam's state lines up too
    for name, grad in expected.items():
        np.testing.assert_allclose(ours.grad_views[name], grad, rtol=1e-8, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("policy, env_kwargs", [("CnnPolicy", {}), ("MultiInputPolicy", {"dict_obs": True})])
def test_cnn_and_multi_input_models_move_both_ways_between_sb3_and_scratch_ppo(policy, env_kwargs, tmp_path):
    """A zip saved by SB3's PPO loads in ScratchPPO and predicts SB3's deterministic actions (on channel-first and
    on channel-last frames, one observation or a batch); ScratchPPO's zip gives its weights and Adam state to SB3."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_scratch_ppo import ScratchPPO
    from tests.envs import ImageEnv

    def env(seed):
        return make_vec_env(ImageEnv, n_envs=2, seed=seed, env_kwargs=env_kwargs)

    kwargs = dict(n_steps=16, batch_size=16, n_epochs=1, policy_kwargs=dict(share_features_extractor=False))
    sb3 = PPO(policy, env(0), seed=0, **kwargs).learn(32)
    sb3.save(tmp_path / "sb3")
    ours = ScratchPPO.load(tmp_path / "sb3", env=env(1))
    assert not ours.policy.share_features_extractor and type(ours.env).__name__ == "VecTransposeImage"
    raw = ImageEnv(**env_kwargs).observation_space  # channel-last frames, as the env gives them
    raw.seed(5)
    batch = [raw.sample() for _ in range(6)]
    obs = {k: np.stack([o[k] for o in batch]) for k in batch[0]} if env_kwargs else np.stack(batch)
    first = {k: v[0] for k, v in obs.items()} if env_kwargs else obs[0]
    for x in (obs, first):
        np.testing.assert_array_equal(ours.predict(x, deterministic=True)[0], sb3.predict(x, deterministic=True)[0])
    assert ours.predict(first, deterministic=True)[0].shape == ()
    ours.learn(32)  # and trains on

    ours.save(tmp_path / "ours")
    ref = PPO(policy, env(2), seed=3, **kwargs)
    ref.set_parameters(str(tmp_path / "ours.zip"))  # SB3's key names (three extractor groups) and Adam's order
    np.testing.assert_array_equal(ref.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0])
    assert int(ref.policy.optimizer.state_dict()["state"][0]["step"]) == ours.policy.optimizer.steps
