"""Custom NumPy features extractors (nn/base_extractor.py), with the example of tests/numpy_extractors.py: the same
forward, running statistics and gradients as SB3's policy with the torch extractor, train and eval modes as SB3's
(SB3's own test_train_eval_mode, run with the NumPy extractor), and save/load.

Tolerance: float64 on both sides; the only differences are summation orders (a batch mean over 64 rows, 16-unit
layers), about 1e-15 relative; rtol 1e-9 leaves room and still fails on any wrong term of the hand-written backward
(a missing 1/B in the batch-norm gradient, a dropped mask)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor as TorchBaseFeaturesExtractor

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.files.model_file import ModelFileError
from tests.numpy_extractors import FlattenBatchNormDropoutExtractor
from tests.reference import sb3_evaluate

torch.set_num_threads(1)
RTOL, ATOL = 1e-9, 1e-12


class TorchFlattenBatchNormDropout(TorchBaseFeaturesExtractor):
    """SB3's test_train_eval_mode extractor, with the dropout probability as an argument."""

    def __init__(self, observation_space, p: float = 0.5):
        super().__init__(observation_space, int(np.prod(observation_space.shape)))
        self.flatten = torch.nn.Flatten()
        self.batch_norm = torch.nn.BatchNorm1d(self._features_dim)
        self.dropout = torch.nn.Dropout(p)

    def forward(self, observations):
        return self.dropout(self.batch_norm(self.flatten(observations)))


def twins(env_id: str, p: float = 0.0):
    """Our policy (float64) with the NumPy extractor and SB3's with the torch one, holding the same weights."""
    kwargs = dict(net_arch=[16, 16], features_extractor_kwargs=dict(p=p))
    ours = ScratchPPO(
        "MlpPolicy",
        env_id,
        seed=0,
        policy_kwargs=dict(features_extractor_class=FlattenBatchNormDropoutExtractor, dtype=np.float64, **kwargs),
    )
    ref = PPO("MlpPolicy", env_id, seed=0, policy_kwargs=dict(features_extractor_class=TorchFlattenBatchNormDropout, **kwargs))
    ref.policy.to(torch.float64)
    ours.policy.params[:] = np.random.default_rng(1).normal(size=ours.policy.params.size) * 0.5  # BN weights too
    with torch.no_grad():
        ref.policy.load_state_dict({k: torch.as_tensor(np.array(v)) for k, v in ours.policy.state_views().items()})
    return ours, ref


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_train_mode_forward_running_statistics_and_gradients_match_sb3(env_id):
    """Train mode (batch statistics; dropout off so both draw no mask): V, log pi, the running statistics after the
    forward, and every parameter's gradient, against SB3's policy and autograd."""
    ours, ref = twins(env_id)
    rng = np.random.default_rng(2)
    obs = rng.normal(size=(64, *ours.observation_space.shape))
    ref.action_space.seed(3)
    actions = np.stack([ref.action_space.sample() for _ in range(64)]).astype(np.float64)
    g_v, g_lp = rng.normal(size=64), rng.normal(size=64)

    ours.policy.set_training_mode(True)
    values, log_prob, _, cache = ours.policy.evaluate_with_cache(obs, actions)
    ours.policy.backprop(cache, g_v, g_lp, None)
    ref.policy.set_training_mode(True)  # SB3's evaluate_actions, from its extractor on (its preprocess_obs is float32)
    features = ref.policy.features_extractor(torch.as_tensor(obs))
    values_t, log_prob_t, _ = sb3_evaluate(ref.policy, features, torch.as_tensor(actions))
    (torch.as_tensor(g_v) @ values_t.flatten() + torch.as_tensor(g_lp) @ log_prob_t).backward()

    np.testing.assert_allclose(values, values_t.detach().numpy().ravel(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(log_prob, log_prob_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    bn = ref.policy.features_extractor.batch_norm
    np.testing.assert_allclose(ours.policy.features_extractor.running_mean, bn.running_mean.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.policy.features_extractor.running_var, bn.running_var.numpy(), rtol=RTOL, atol=ATOL)
    assert int(ours.policy.features_extractor.num_batches_tracked) == int(bn.num_batches_tracked) == 1
    for name, param in ref.policy.named_parameters():
        np.testing.assert_allclose(ours.policy.grad_views[name], param.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)

    # eval mode: the running statistics, no dropout; nothing changes
    ours.policy.set_training_mode(False)
    ref.policy.set_training_mode(False)
    with torch.no_grad():
        latent_vf = ref.policy.mlp_extractor.forward_critic(ref.policy.features_extractor(torch.as_tensor(obs)))
        values_t = ref.policy.value_net(latent_vf)
    np.testing.assert_allclose(ours.policy.predict_values(obs), values_t.numpy().ravel(), rtol=RTOL, atol=ATOL)
    assert int(ours.policy.features_extractor.num_batches_tracked) == 1


def test_dropout_gradient_against_autograd():
    """Train-mode dropout: our mask, replayed in torch (x * mask / (1 - p) after torch's BatchNorm1d), gives the
    same output and the same gradients of the batch-norm parameters."""
    ours, ref = twins("CartPole-v1", p=0.5)
    extractor, bn = ours.policy.features_extractor, ref.policy.features_extractor.batch_norm
    x = np.random.default_rng(4).normal(size=(32, 4))
    g = np.random.default_rng(5).normal(size=(32, 4))
    extractor.set_training_mode(True)
    cache: list = []
    features = extractor.forward(x, cache)
    extractor.backprop(g, cache)
    mask = cache[0][1]
    assert 0 < (mask == 0).sum() < mask.size  # the mask drops some features, not all

    bn.train()
    y = bn(torch.as_tensor(x)) * torch.as_tensor(mask)
    (y * torch.as_tensor(g)).sum().backward()
    np.testing.assert_allclose(features, y.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(extractor.g_gamma, bn.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(extractor.g_beta, bn.bias.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_the_running_statistics_are_saved_and_loaded(tmp_path):
    """In SB3's state_dict names (running_mean, running_var, num_batches_tracked); a model file names the custom
    class only as text, so load takes it through custom_objects (SB3's way), and refuses without it, saying so."""
    kwargs = dict(features_extractor_class=FlattenBatchNormDropoutExtractor, net_arch=[16])
    model = ScratchPPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=2, seed=0, policy_kwargs=kwargs)
    model.learn(128)
    state = model.policy.state_dict()
    assert state["features_extractor.batch_norm.num_batches_tracked"].dtype == torch.int64
    assert int(state["features_extractor.batch_norm.num_batches_tracked"]) == 2 * 2 * 2  # 2 updates x 2 epochs x 2
    model.save(tmp_path / "m")
    with pytest.raises(ModelFileError, match=r"FlattenBatchNormDropoutExtractor.*custom_objects"):
        ScratchPPO.load(tmp_path / "m")
    loaded = ScratchPPO.load(tmp_path / "m", custom_objects={"policy_kwargs": kwargs})
    for key, value in loaded.policy.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_a_torch_extractor_is_refused_naming_the_numpy_protocol():
    with pytest.raises(NotImplementedError, match=r"subclass sb3_scratch_ppo\.nn\.base_extractor\.BaseFeaturesExtractor"):
        ScratchPPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_class=TorchFlattenBatchNormDropout))


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize(
    "test",
    [
        "test_a2c_ppo_train_with_batch_norm",
        "test_a2c_ppo_collect_rollouts_with_batch_norm",
        "test_predict_with_dropout_batch_norm",
    ],
)
def test_sb3s_train_eval_mode_tests_with_a_numpy_extractor(monkeypatch, test, env_id):
    """SB3's three PPO tests of test_train_eval_mode.py, unchanged, with ScratchPPO and the NumPy extractor in place
    of its torch one (its helpers read batch_norm.bias and batch_norm.running_mean, given here as torch tensors)."""
    from tests.test_custom_policy import sb3_test_module

    module = sb3_test_module("test_train_eval_mode")
    monkeypatch.setattr(module, "FlattenBatchNormDropoutExtractor", FlattenBatchNormDropoutExtractor)

    def clone_on_policy_batch_norm(model):
        extractor = model.policy.features_extractor
        return torch.tensor(np.array(extractor.beta)), torch.tensor(np.array(extractor.running_mean))

    monkeypatch.setattr(module, "clone_on_policy_batch_norm", clone_on_policy_batch_norm)
    monkeypatch.setitem(module.CLONE_HELPERS, module.PPO, clone_on_policy_batch_norm)
    monkeypatch.setitem(module.CLONE_HELPERS, ScratchPPO, clone_on_policy_batch_norm)
    getattr(module, test)(ScratchPPO, env_id)


@pytest.mark.slow
def test_sb3_contribs_maskable_train_eval_mode_test_with_a_numpy_extractor(monkeypatch):
    """sb3-contrib's test_ppo_mask_train_eval_mode, unchanged, with ScratchMaskablePPO and the NumPy extractor in place
    of MaskablePPO and its torch one (the one test of sb3-contrib's MaskablePPO suite that fails as it is written:
    tests/sb3_contrib_expected_failures.txt)."""
    from sb3_scratch_ppo import ScratchMaskablePPO
    from tests.extras import require
    from tests.test_custom_policy import sb3_test_module

    require("sb3_contrib")
    module = sb3_test_module("test_train_eval_mode", suite="contrib")
    monkeypatch.setattr(module, "MaskablePPO", ScratchMaskablePPO)
    monkeypatch.setattr(module, "FlattenBatchNormDropoutExtractor", FlattenBatchNormDropoutExtractor)

    def clone_on_policy_batch_norm(model):
        extractor = model.policy.features_extractor
        return torch.tensor(np.array(extractor.beta)), torch.tensor(np.array(extractor.running_mean))

    monkeypatch.setattr(module, "clone_on_policy_batch_norm", clone_on_policy_batch_norm)
    module.test_ppo_mask_train_eval_mode()
