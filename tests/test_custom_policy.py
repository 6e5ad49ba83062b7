"""Custom NumPy policies change what rollouts do, as SB3's custom policies do; SB3's own GAE test runs with one.

SB3's test_gae.py subclasses SB3's torch ActorCriticPolicy and overrides ``forward`` to return a constant value, then
checks the rollout buffer's advantages and returns at ``_on_rollout_end`` against GAE computed by hand. Here the same
test function and callback, from SB3's sdist (tools/sb3_own_tests.py fetches it), run with ScratchPPO and a subclass
of our NumPy ActorCriticPolicy overriding ``forward`` the same way (the torch one stays refused: tests/test_api.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.policy import ActorCriticPolicy

ROOT = Path(__file__).resolve().parent.parent


class ConstantValuePolicy(ActorCriticPolicy):
    """SB3's test_gae CustomPolicy, in NumPy: V(s) is ``constant_value`` during rollouts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.constant_value = 0.0

    def forward(self, obs, deterministic=False):
        actions, values, log_prob = super().forward(obs, deterministic)
        return actions, np.ones_like(values) * self.constant_value, log_prob


class RecordValues(BaseCallback):
    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.values = self.model.rollout_buffer.values.copy()


@pytest.mark.parametrize("n_envs", [1, 4])  # 4 envs: the batch the fused rollout net would take for a plain policy
def test_an_overridden_forward_is_what_rollouts_run(n_envs):
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    model = ScratchPPO(ConstantValuePolicy, env, n_steps=32, batch_size=32, n_epochs=1, seed=0)
    model.policy.constant_value = 2.5
    record = RecordValues()
    model.learn(32 * n_envs, callback=record)
    np.testing.assert_array_equal(record.values, np.full((32, n_envs), 2.5, dtype=np.float32))

    plain = ScratchPPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs, seed=0), n_steps=32, batch_size=32, seed=0)
    control = RecordValues()
    plain.learn(32 * n_envs, callback=control)
    assert len(np.unique(control.values)) > 1  # the negative control: a plain policy's values vary


def sb3_test_module(name: str, suite: str = "sb3"):
    """A test module of SB3's own suite, or sb3-contrib's (its sdist's tests/, fetched once into the venv)."""
    sys.path.insert(0, str(ROOT / "tools"))
    import sb3_own_tests

    folder = sb3_own_tests.sb3_tests(Path(sys.prefix) / "sb3-own-tests", sb3_own_tests.SUITES[suite])
    spec = importlib.util.spec_from_file_location(f"{suite}_own_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("num_episodes", [1, 3])
@pytest.mark.parametrize("gamma", [0.99, 1.0])
@pytest.mark.parametrize("gae_lambda", [0.9, 1.0])
def test_sb3s_gae_test_with_a_numpy_custom_policy(monkeypatch, gae_lambda, gamma, num_episodes):
    """SB3's test_gae_computation, unchanged, with ScratchPPO and the NumPy ConstantValuePolicy in place of its torch
    CustomPolicy (its CheckGAECallback reads buffer.size(), advantages and returns at _on_rollout_end)."""
    module = sb3_test_module("test_gae")
    monkeypatch.setattr(module, "CustomPolicy", ConstantValuePolicy)
    module.test_gae_computation(ScratchPPO, gae_lambda, gamma, num_episodes)

    # The callback checks something that can fail: with a policy whose values are not the constant it expects,
    # the same test fails.
    monkeypatch.setattr(
        module, "CustomPolicy", type("NotConstant", (ConstantValuePolicy,), {"forward": ActorCriticPolicy.forward})
    )
    with pytest.raises(AssertionError):
        module.test_gae_computation(ScratchPPO, gae_lambda, gamma, num_episodes)


def test_a_torch_policy_class_is_refused_naming_the_numpy_one():
    from stable_baselines3.common.policies import ActorCriticPolicy as TorchPolicy

    class TorchCustom(TorchPolicy):
        pass

    with pytest.raises(ValueError, match=r"a subclass of sb3_scratch_ppo\.ActorCriticPolicy \(NumPy"):
        ScratchPPO(TorchCustom, "CartPole-v1")
