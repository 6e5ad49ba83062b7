"""policy.save / ActorCriticPolicy.load (files/policy_file.py): SB3's policy file both ways, and never running code.

SB3's own test_save_load_policy runs with ScratchPPO in tests/test_sb3_own_suite.py; here the exchange with SB3's
policy classes, live, and crafted files. The payload is a pickle whose __reduce__ writes a marker file: SB3's
ActorCriticPolicy.load runs it (the control); ours must refuse it with the marker never written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.policies import ActorCriticPolicy as SB3Policy

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.files.sb3_data import ModelFileError

torch.set_num_threads(1)
SMALL = dict(n_steps=64, batch_size=32, n_epochs=1, seed=0)

CASES = {
    "mlp-discrete": ("MlpPolicy", lambda: "CartPole-v1", dict(policy_kwargs=dict(net_arch=[16]))),
    "mlp-gsde-squashed-relu-adamw": (
        "MlpPolicy",
        lambda: "Pendulum-v1",
        dict(
            use_sde=True,
            policy_kwargs=dict(
                squash_output=True,
                activation_fn=torch.nn.ReLU,
                optimizer_class=torch.optim.AdamW,
                optimizer_kwargs=dict(weight_decay=0.1),
                net_arch=dict(pi=[8], vf=[16, 16]),
                log_std_init=-1.0,
            ),
        ),
    ),
    "cnn-separate-extractors": (
        "CnnPolicy",
        lambda: FakeImageEnv(screen_height=40, screen_width=40, n_channels=2),
        dict(policy_kwargs=dict(share_features_extractor=False, features_extractor_kwargs=dict(features_dim=32))),
    ),
    "multiinput": ("MultiInputPolicy", SimpleMultiObsEnv, {}),
    # Discrete, MultiDiscrete and MultiBinary spaces, observed and acted on
    "discrete": ("MlpPolicy", lambda: IdentityEnv(4), {}),
    "multidiscrete": ("MlpPolicy", lambda: IdentityEnvMultiDiscrete(3), {}),
    "multibinary": ("MlpPolicy", lambda: IdentityEnvMultiBinary(3), {}),
}


def observations(model, n=6):
    model.observation_space.seed(1)
    samples = [model.observation_space.sample() for _ in range(n)]
    if isinstance(samples[0], dict):
        return {key: np.stack([s[key] for s in samples]) for key in samples[0]}
    return np.stack(samples)


def same_actions(policy_a, policy_b, obs):
    a, b = policy_a.predict(obs, deterministic=True)[0], policy_b.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=1e-5, atol=1e-6)


def same_weights(state_a, state_b):
    assert list(state_a) == list(state_b)
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("case", list(CASES))
def test_our_policy_files_load_in_sb3_and_back(tmp_path, case):
    policy, make_env, kwargs = CASES[case]
    ours = ScratchPPO(policy, make_env(), **SMALL, **kwargs).learn(64)
    ours.policy.save(tmp_path / "policy.pth")

    sb3_policy = type(PPO(policy, make_env(), **SMALL, **kwargs).policy).load(tmp_path / "policy.pth")
    same_weights(sb3_policy.state_dict(), ours.policy.state_dict())
    assert sb3_policy.share_features_extractor == ours.policy.share_features_extractor  # SB3 does not save it; ours does
    obs = observations(ours)
    same_actions(sb3_policy, ours.policy, obs)

    again = type(ours.policy).load(tmp_path / "policy.pth")
    same_weights(again.state_dict(), ours.policy.state_dict())
    same_actions(again, ours.policy, obs)
    for name in ("net_arch", "optimizer_kwargs", "dist_kwargs", "log_std_init", "ortho_init", "normalize_images"):
        assert getattr(again, name) == getattr(ours.policy, name), name
    assert again.observation_space == ours.policy.observation_space and again.action_space == ours.policy.action_space


@pytest.mark.parametrize("case", list(CASES))
def test_sb3s_policy_files_load_in_ours(tmp_path, case):
    policy, make_env, kwargs = CASES[case]
    ref = PPO(policy, make_env(), **SMALL, **kwargs).learn(64)
    ref.policy.save(tmp_path / "policy.pth")
    ours_class = type(ScratchPPO(policy, make_env(), **SMALL, **kwargs).policy)
    ours = ours_class.load(tmp_path / "policy.pth")
    obs = observations(ref)
    if case == "cnn-separate-extractors":  # SB3's file lacks share_features_extractor: SB3's load and ours both
        assert ours.share_features_extractor and SB3Policy.load(tmp_path / "policy.pth").share_features_extractor
        return  # give a shared one, loaded with the pi weights and then the vf weights (SB3's behaviour, matched)
    same_weights(ours.state_dict(), ref.policy.state_dict())
    same_actions(ours, ref.policy, obs)


class Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


@pytest.mark.parametrize("where", ["data", "state_dict", "space"])
def test_a_payload_in_a_policy_file_never_runs(tmp_path, where):
    model = ScratchPPO("MlpPolicy", "CartPole-v1", **SMALL)
    model.policy.save(tmp_path / "policy.pth")
    saved = torch.load(tmp_path / "policy.pth", weights_only=False)
    marker = tmp_path / "marker"
    if where == "data":
        saved["data"]["net_arch"] = Payload(marker)
    elif where == "state_dict":
        saved["state_dict"]["value_net.bias"] = Payload(marker)
    else:
        saved["data"]["observation_space"].low = Payload(marker)
    torch.save(saved, tmp_path / "crafted.pth")

    with pytest.raises(ModelFileError, match=r"crafted.pth: not read as a policy file .*nothing in it was run"):
        type(model.policy).load(tmp_path / "crafted.pth")
    assert not marker.exists()
    try:  # the control: SB3's loader runs it
        SB3Policy.load(tmp_path / "crafted.pth")
    except Exception:
        pass
    assert marker.read_text() == "ran"


def test_a_policy_file_naming_another_class_is_refused(tmp_path):
    """A custom torch extractor in an SB3 policy file: named in the refusal, not imported."""
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class Custom(BaseFeaturesExtractor):
        def __init__(self, observation_space):
            super().__init__(observation_space, features_dim=4)
            self.flatten = torch.nn.Flatten()

        def forward(self, obs):
            return self.flatten(obs)

    globals()["Custom"] = Custom  # picklable by reference, as a user's module-level class would be
    Custom.__qualname__ = "Custom"
    ref = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_class=Custom), **SMALL)
    ref.policy.save(tmp_path / "policy.pth")
    with pytest.raises(ModelFileError, match=r"test_policy_file.Custom"):
        type(ScratchPPO("MlpPolicy", "CartPole-v1", **SMALL).policy).load(tmp_path / "policy.pth")
