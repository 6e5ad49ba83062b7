"""Drop-in API: ScratchPPO behaves like stable_baselines3.PPO for every usage pattern, PPO running live beside it."""

import csv
import inspect
import os
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox, IdentityEnvMultiBinary, IdentityEnvMultiDiscrete
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import SubprocVecEnv, VecNormalize
from torch import nn

from sb3_scratch_ppo import ScratchPPO

SMALL = dict(n_steps=16, batch_size=16, n_epochs=2)


# --- constructor ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method", ["__init__", "learn", "predict", "save", "load", "set_parameters", "get_parameters", "set_env"]
)
def test_signatures_equal_ppo(method):
    ours = inspect.signature(getattr(ScratchPPO, method)).parameters
    ref = inspect.signature(getattr(PPO, method)).parameters
    assert [(n, p.kind, p.default) for n, p in ours.items()] == [(n, p.kind, p.default) for n, p in ref.items()]


def test_scratch_ppo_is_an_on_policy_algorithm_like_ppo():
    """rl-zoo3 and user code test isinstance(model, OnPolicyAlgorithm); learn, dump_logs and the save parameters are SB3's."""
    model = ScratchPPO("MlpPolicy", "CartPole-v1", **SMALL)
    assert isinstance(model, OnPolicyAlgorithm)
    for method in ("dump_logs", "_get_torch_save_params", "_setup_learn"):
        assert getattr(ScratchPPO, method) is getattr(OnPolicyAlgorithm, method)


def _both_raise(kwargs, env_factory=lambda: "CartPole-v1", policy="MlpPolicy"):
    errors = []
    for algo in (PPO, ScratchPPO):
        with pytest.raises(Exception) as err:
            algo(policy, env_factory(), **kwargs)
        errors.append(err)
    assert errors[0].type is errors[1].type, (errors[0].value, errors[1].value)
    return errors[1]


def test_unknown_policy_raises_value_error_like_ppo():
    err = _both_raise({}, policy="NoSuchPolicy")
    assert err.type is ValueError and "NoSuchPolicy" in str(err.value)


@pytest.mark.parametrize("clip_range_vf", [0.0, -0.1])
def test_non_positive_clip_range_vf_raises_like_ppo(clip_range_vf):
    err = _both_raise(dict(clip_range_vf=clip_range_vf))
    assert err.type is AssertionError and "pass `None` to deactivate" in str(err.value)


def test_batch_size_one_with_normalization_raises_like_ppo():
    err = _both_raise(dict(batch_size=1))
    assert err.type is AssertionError and "`batch_size` must be greater than 1" in str(err.value)


def test_rollout_of_one_sample_raises_like_ppo():
    err = _both_raise(dict(n_steps=1, batch_size=2))
    assert err.type is AssertionError and "`n_steps * n_envs` must be greater than 1" in str(err.value)


def test_dict_observations_with_mlp_policy_raise_like_ppo():
    class DictEnv(IdentityEnv):
        def __init__(self):
            super().__init__(2)
            self.observation_space = spaces.Dict({"a": spaces.Discrete(2)})

    err = _both_raise({}, env_factory=DictEnv)
    assert err.type is ValueError and "MultiInputPolicy" in str(err.value)


def test_nested_dict_observations_raise_like_ppo():
    class NestedEnv(IdentityEnv):
        def __init__(self):
            super().__init__(2)
            self.observation_space = spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})})

    err = _both_raise({}, env_factory=NestedEnv, policy="MultiInputPolicy")
    assert err.type is NotImplementedError and "Nested observation spaces are not supported" in str(err.value)


def test_cnn_policy_on_vectors_raises_like_ppo():
    err = _both_raise({}, policy="CnnPolicy")
    assert err.type is AssertionError and "You should use NatureCNN only with images" in str(err.value)


def test_custom_features_extractor_is_refused_naming_what_is_built():
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class MyExtractor(BaseFeaturesExtractor):
        pass

    with pytest.raises(NotImplementedError, match=r"MyExtractor.*FlattenExtractor, NatureCNN, CombinedExtractor"):
        ScratchPPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_class=MyExtractor))
    with pytest.raises(TypeError, match=r"features_extractor_kwargs \['features_dim'\] .* FlattenExtractor"):
        ScratchPPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=3)))


def test_unsupported_action_space_raises_like_ppo():
    class TupleEnv(IdentityEnv):
        def __init__(self):
            super().__init__(2)
            self.action_space = spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2)))

    err = _both_raise({}, env_factory=TupleEnv)
    assert err.type is AssertionError and "only supports" in str(err.value)


def test_rollout_not_multiple_of_batch_size_warns_like_ppo():
    messages = []
    for algo in (PPO, ScratchPPO):
        with pytest.warns(UserWarning, match="truncated mini-batch of size 36") as record:
            algo("MlpPolicy", "CartPole-v1", n_steps=100, batch_size=64)
        messages.append([str(w.message) for w in record if "mini-batch" in str(w.message)])
    assert messages[0] == messages[1]


def test_gsde_with_discrete_actions_raises_like_ppo():
    err = _both_raise(dict(use_sde=True))
    assert err.type is ValueError and "can only be used with continuous actions" in str(err.value)


def test_squash_output_without_gsde_raises_like_ppo():
    err = _both_raise(dict(policy_kwargs=dict(squash_output=True)), env_factory=lambda: "Pendulum-v1")
    assert err.type is AssertionError and "only available when using gSDE" in str(err.value)


@pytest.mark.parametrize(
    "policy_kwargs, error, pattern",
    [
        (dict(activation_fn="relu"), ValueError, "activation_fn='relu' is not supported"),
        (dict(activation_fn=nn.Hardswish), ValueError, "activation_fn=.*Hardswish"),
        (dict(net_arch=[64, -1]), ValueError, "layer sizes must be positive integers"),
        (dict(net_arch=dict(pi=[8], qf=[8])), ValueError, r"unknown keys \['qf'\]"),
        (dict(no_such_option=1), TypeError, "unexpected keyword argument 'no_such_option'"),
        (dict(optimizer_kwargs=dict(amsgrad=True)), NotImplementedError, r"\['amsgrad'\] are not supported; only eps, betas"),
        (dict(optimizer_class=torch.optim.RMSprop), NotImplementedError, "RMSprop.* Adam and AdamW are"),
    ],
)
def test_bad_policy_kwargs_get_clear_errors(policy_kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        ScratchPPO("MlpPolicy", "CartPole-v1", policy_kwargs=policy_kwargs)


def test_policy_kwargs_shape_the_network_like_sb3():
    kwargs = dict(net_arch=dict(pi=[32], vf=[16, 8]), activation_fn=nn.ReLU, log_std_init=-0.5)
    ours = ScratchPPO("MlpPolicy", "Pendulum-v1", policy_kwargs=kwargs).get_parameters()["policy"]
    ref = PPO("MlpPolicy", "Pendulum-v1", policy_kwargs=kwargs).get_parameters()["policy"]
    assert [(k, tuple(v.shape)) for k, v in ours.items()] == [(k, tuple(v.shape)) for k, v in ref.items()]
    np.testing.assert_array_equal(ours["log_std"].numpy(), ref["log_std"].numpy())


def test_initialization_statistics_match_sb3():
    """Orthogonal init with SB3's gains: the singular values of every weight matrix are all equal to the gain."""
    ours = ScratchPPO("MlpPolicy", "CartPole-v1", seed=0).get_parameters()["policy"]
    ref = PPO("MlpPolicy", "CartPole-v1", seed=0).get_parameters()["policy"]
    for key, value in ref.items():
        if key.endswith("weight"):
            np.testing.assert_allclose(
                np.linalg.svd(ours[key].numpy(), compute_uv=False),
                np.linalg.svd(value.numpy(), compute_uv=False),
                rtol=1e-5,
                err_msg=key,
            )
        else:
            np.testing.assert_array_equal(ours[key].numpy(), value.numpy())


# --- learn, callbacks, logger -----------------------------------------------------------------


class Recorder(BaseCallback):
    def __init__(self, stop_at_call=None):
        super().__init__()
        self.events, self.step_locals, self.stop_at_call = [], set(), stop_at_call

    def _on_training_start(self):
        self.events.append(("training_start", self.num_timesteps))

    def _on_rollout_start(self):
        self.events.append(("rollout_start", self.num_timesteps))

    def _on_step(self):
        self.events.append(("step", self.num_timesteps))
        self.step_locals |= set(self.locals)
        return self.n_calls != self.stop_at_call

    def _on_rollout_end(self):
        self.events.append(("rollout_end", self.num_timesteps))

    def _on_training_end(self):
        self.events.append(("training_end", self.num_timesteps))


@pytest.mark.parametrize("stop_at_call", [None, 21])
def test_callbacks_are_called_at_the_same_moments(stop_at_call):
    recorders = {}
    for algo in (PPO, ScratchPPO):
        rec = Recorder(stop_at_call)
        model = algo("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), seed=0, **SMALL)
        model.learn(100, callback=rec)
        recorders[algo] = (rec, model.num_timesteps)
    (ref, ref_steps), (ours, our_steps) = recorders[PPO], recorders[ScratchPPO]
    assert ours.events == ref.events and our_steps == ref_steps
    needed = {"new_obs", "rewards", "dones", "infos", "actions", "values", "log_probs", "clipped_actions", "n_steps", "self"}
    assert needed <= ours.step_locals
    if stop_at_call:
        assert ours.events[-2] == ("step", 2 * stop_at_call) and ours.events[-1][0] == "training_end"


def _csv_rows(folder):
    with open(os.path.join(folder, "progress.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_logger_writes_the_same_keys_one_iteration_late(tmp_path, env_id):
    rows = {}
    for algo in (PPO, ScratchPPO):
        folder = str(tmp_path / algo.__name__)
        model = algo("MlpPolicy", make_vec_env(env_id, n_envs=2, seed=0), seed=0, clip_range_vf=0.2, **SMALL)
        model.set_logger(configure(folder, ["csv"]))
        model.learn(320)
        rows[algo] = _csv_rows(folder)
    ours, ref = rows[ScratchPPO], rows[PPO]
    assert ours[0].keys() == ref[0].keys()  # the header: every key either ever logged
    assert len(ours) == len(ref) == 10
    for ours_row, ref_row in zip(ours, ref, strict=True):
        # The same time/* and train/* keys are filled in each row: train/* one iteration late, from the 2nd on.
        # (rollout/* appear once an episode has ended, which depends on the sampled actions.)
        filled = [{k for k, v in row.items() if v and not k.startswith("rollout/")} for row in (ours_row, ref_row)]
        assert filled[0] == filled[1]
    assert not ours[0]["train/loss"] and ours[1]["train/loss"]
    assert "train/std" in ours[0] if env_id == "Pendulum-v1" else "train/std" not in ours[0]


def test_stdout_logging_with_verbose(capsys):
    ScratchPPO("MlpPolicy", "CartPole-v1", verbose=1, seed=0, **SMALL).learn(64)
    out = capsys.readouterr().out
    for key in ("rollout/", "ep_rew_mean", "time/", "fps", "train/", "approx_kl", "explained_variance"):
        assert key in out


def test_tensorboard_gets_the_same_tags_as_ppo(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for algo in (PPO, ScratchPPO):
        model = algo("MlpPolicy", "CartPole-v1", tensorboard_log=str(tmp_path / algo.__name__), seed=0, **SMALL)
        model.learn(160, tb_log_name="run")
        run_dir = tmp_path / algo.__name__ / "run_1"
        acc = EventAccumulator(str(run_dir))
        acc.Reload()
        tags[algo] = set(acc.Tags()["scalars"])
    assert tags[ScratchPPO] == tags[PPO]
    assert {"train/loss", "rollout/ep_rew_mean", "time/fps"} <= tags[ScratchPPO]


def test_progress_bar_like_ppo(capsys):
    bars = []
    for algo in (PPO, ScratchPPO):
        algo("MlpPolicy", "CartPole-v1", **SMALL).learn(200, progress_bar=True)
        bars.append(capsys.readouterr().out)
    assert "100%" in bars[1] and "208/200" in bars[1] and "208/200" in bars[0]  # whole rollouts of 16 steps


def test_eval_checkpoint_and_stop_on_reward_threshold(tmp_path):
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1.0, verbose=0)  # any return beats it
    eval_cb = EvalCallback(
        make_vec_env("CartPole-v1", n_envs=1, seed=5),
        eval_freq=64,
        n_eval_episodes=2,
        callback_on_new_best=stop,
        best_model_save_path=str(tmp_path / "best"),
        log_path=str(tmp_path / "eval"),
        verbose=0,
    )
    ckpt = CheckpointCallback(save_freq=32, save_path=str(tmp_path / "ckpt"), name_prefix="m")
    model = ScratchPPO("MlpPolicy", "CartPole-v1", seed=0, **SMALL)
    model.learn(10_000, callback=[ckpt, eval_cb])
    assert model.num_timesteps == 64  # stopped at the first evaluation
    assert len(eval_cb.evaluations_results) == 1 and eval_cb.best_mean_reward > 0
    assert np.load(tmp_path / "eval" / "evaluations.npz")["timesteps"].tolist() == [64]
    assert os.path.exists(tmp_path / "best" / "best_model.zip")
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["m_32_steps.zip", "m_64_steps.zip"]
    assert ScratchPPO.load(tmp_path / "ckpt" / "m_64_steps.zip").num_timesteps == 64


def test_vec_normalize_and_evaluate_policy():
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0))
    model = ScratchPPO("MlpPolicy", env, seed=0, **SMALL).learn(256)
    assert model.get_vec_normalize_env() is env and env.obs_rms.count > 256
    mean, _ = evaluate_policy(model, env, n_eval_episodes=2)
    assert np.isfinite(mean) and mean < 0


def test_subproc_vec_env():
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv)
    model = ScratchPPO("MlpPolicy", env, seed=0, **SMALL).learn(128)
    assert model.num_timesteps == 128
    env.close()


@pytest.mark.parametrize(
    "env_factory",
    [
        lambda: IdentityEnvMultiDiscrete(3),
        lambda: IdentityEnvMultiBinary(3),
        lambda: IdentityEnvBox(),
        lambda: gym.make("FrozenLake-v1"),
    ],
    ids=["MultiDiscrete", "MultiBinary", "Box", "Discrete-obs"],
)
def test_other_spaces_train_and_predict_like_ppo(env_factory):
    ours = ScratchPPO("MlpPolicy", env_factory(), seed=0, **SMALL).learn(64)
    ref = PPO("MlpPolicy", env_factory(), seed=0, **SMALL)
    obs = ours.env.reset()
    for deterministic in (True, False):
        a, _ = ours.predict(obs, deterministic=deterministic)
        b, _ = ref.predict(obs, deterministic=deterministic)
        assert a.shape == b.shape and a.dtype == b.dtype
        assert all(ours.action_space.contains(np.asarray(x).astype(ours.action_space.dtype)) for x in a)


def test_multi_dimensional_box_actions_keep_their_shape():
    class Box2DActions(IdentityEnvBox):
        def __init__(self):
            super().__init__(ep_length=20)
            self.action_space = spaces.Box(-1.0, 1.0, shape=(2, 3), dtype=np.float32)
            self.observation_space = spaces.Box(-1.0, 1.0, shape=(2, 3), dtype=np.float32)

        def step(self, action):
            assert action.shape == (2, 3)
            return self.observation_space.sample(), 0.0, False, False, {}

    model = ScratchPPO("MlpPolicy", Box2DActions(), seed=0, **SMALL).learn(48)
    assert model.rollout_buffer.action_rows.shape == (16, 1, 2, 3)
    assert model.rollout_buffer.actions.shape == (16, 1, 6)  # SB3's buffer flattens action dimensions
    assert model.predict(np.zeros((2, 3)))[0].shape == (2, 3)


# --- predict ----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_predict_shapes_and_semantics_match_ppo(env_id):
    ours, ref = ScratchPPO("MlpPolicy", env_id, seed=0), PPO("MlpPolicy", env_id, seed=0)
    space = ours.observation_space
    single, batch = space.sample(), np.stack([space.sample() for _ in range(5)])
    for obs in (single, batch, single.tolist()):
        for deterministic in (True, False):
            a, state_a = ours.predict(obs, deterministic=deterministic)
            b, state_b = ref.predict(obs, deterministic=deterministic)
            assert (a.shape, a.dtype, state_a) == (b.shape, b.dtype, state_b)
    with pytest.raises(ValueError, match="mixing Gym API with SB3 VecEnv API"):
        ours.predict(gym.make(env_id).reset())
    with pytest.raises(ValueError, match="Error: Unexpected observation shape"):
        ours.predict(np.zeros(7))


def test_predict_clips_box_actions_to_bounds():
    model = ScratchPPO("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(log_std_init=3.0))
    actions, _ = model.predict(np.zeros((500, 3), dtype=np.float32))
    assert actions.min() == -2.0 and actions.max() == 2.0


# --- weights both ways, save and load -----------------------------------------------------------


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_weights_move_both_ways_between_sb3_and_ours(env_id):
    ours = ScratchPPO("MlpPolicy", env_id, seed=0, **SMALL).learn(64)
    ref = PPO("MlpPolicy", env_id, seed=1)
    sd = ours.get_parameters()["policy"]
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    ref.policy.load_state_dict(sd)  # SB3 takes ours, strict
    obs = np.stack([ours.observation_space.sample() for _ in range(50)])
    np.testing.assert_allclose(
        ours.predict(obs, deterministic=True)[0], ref.predict(obs, deterministic=True)[0], rtol=1e-5, atol=1e-6
    )

    ref2 = PPO("MlpPolicy", env_id, seed=2).learn(64)
    ours.set_parameters(ref2.get_parameters())  # ours takes SB3's, with its Adam state
    np.testing.assert_allclose(
        ours.predict(obs, deterministic=True)[0], ref2.predict(obs, deterministic=True)[0], rtol=1e-5, atol=1e-6
    )
    assert ours.policy.optimizer.steps == int(ref2.policy.optimizer.state_dict()["state"][0]["step"])


def test_save_has_sb3_zip_layout_and_load_continues_training(tmp_path):
    model = ScratchPPO("MlpPolicy", "CartPole-v1", seed=0, **SMALL).learn(64)
    PPO("MlpPolicy", "CartPole-v1", **SMALL).save(tmp_path / "ref")
    model.save(tmp_path / "ours")
    ours_names = sorted(zipfile.ZipFile(tmp_path / "ours.zip").namelist())
    assert ours_names == sorted(zipfile.ZipFile(tmp_path / "ref.zip").namelist())
    assert ours_names == [
        "_stable_baselines3_version",
        "data",
        "policy.optimizer.pth",
        "policy.pth",
        "pytorch_variables.pth",
        "system_info.txt",
    ]

    loaded = ScratchPPO.load(tmp_path / "ours", env=make_vec_env("CartPole-v1", n_envs=1, seed=3))
    obs = np.stack([model.observation_space.sample() for _ in range(20)])
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    assert loaded.num_timesteps == 64 and loaded.n_steps == SMALL["n_steps"]
    assert loaded.policy.optimizer.steps == model.policy.optimizer.steps > 0
    loaded.learn(64, reset_num_timesteps=False)
    assert loaded.num_timesteps == 128 and loaded._n_updates == 2 * model._n_updates


def test_load_a_model_saved_by_sb3_ppo(tmp_path):
    ref = PPO("MlpPolicy", "CartPole-v1", seed=0, **SMALL).learn(64)
    ref.save(tmp_path / "sb3")
    ours = ScratchPPO.load(tmp_path / "sb3", env=make_vec_env("CartPole-v1", n_envs=1))
    obs = np.stack([ref.observation_space.sample() for _ in range(20)])
    np.testing.assert_array_equal(ours.predict(obs, deterministic=True)[0], ref.predict(obs, deterministic=True)[0])
    ours.learn(32)


def test_loading_foreign_or_corrupt_files_fails_clearly(tmp_path):
    from stable_baselines3 import DQN

    DQN("MlpPolicy", "CartPole-v1").save(tmp_path / "dqn")
    with pytest.raises(ValueError, match="saved by another algorithm"):
        ScratchPPO.load(tmp_path / "dqn")
    (tmp_path / "junk.zip").write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match=r"junk\.zip: not a model file: not a zip archive"):
        ScratchPPO.load(tmp_path / "junk.zip")
    other = ScratchPPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[8]))
    with pytest.raises(RuntimeError, match=r"missing keys.*mlp_extractor\.policy_net\.2\.weight"):
        other.set_parameters(ScratchPPO("MlpPolicy", "CartPole-v1").get_parameters())


def test_set_env_checks_spaces():
    model = ScratchPPO("MlpPolicy", "CartPole-v1", **SMALL)
    model.set_env(make_vec_env("CartPole-v1", n_envs=1, seed=1))
    model.learn(32)
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        model.set_env(gym.make("Pendulum-v1"))


# --- seeding, bad input ------------------------------------------------------------------------


def _train(seed):
    model = ScratchPPO("MlpPolicy", "CartPole-v1", seed=seed, **SMALL).learn(256)
    return model.policy.params.copy()


def test_same_seed_gives_bitwise_identical_training():
    np.testing.assert_array_equal(_train(3), _train(3))
    assert not np.array_equal(_train(3), _train(4))


class NaNEnv(IdentityEnvBox):
    def __init__(self, where):
        super().__init__(ep_length=50)
        self.where, self.t = where, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self.t += 1
        if self.t > 20:
            if self.where == "obs":
                obs = np.full_like(obs, np.nan)
            else:
                reward = np.nan
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("where, name", [("obs", r"observation: nan at index \(0,\)"), ("reward", "reward: nan")])
def test_nan_from_the_env_raises_at_its_step_before_anything_changes(where, name):
    """The step it appears on, the env and the value are named; no weight has changed (and NaN was not stored)."""
    model = ScratchPPO("MlpPolicy", make_vec_env(lambda: NaNEnv(where), n_envs=2), n_steps=32, batch_size=32)
    before = model.policy.params.copy()  # the first update would come after step 32: it never does
    with pytest.raises(
        ValueError,
        match=rf"env 0 returned a non-finite {name}, on the step that brought "
        r"num_timesteps to 42; it was not stored.*VecCheckNan",
    ):
        model.learn(200)
    np.testing.assert_array_equal(model.policy.params, before)


def test_nan_in_a_terminal_observation_raises():
    class NaNAtTheEnd(IdentityEnvBox):
        def step(self, action):
            obs, reward, terminated, truncated, info = super().step(action)
            return (np.full_like(obs, np.inf) if truncated else obs), reward, terminated, truncated, info

    with pytest.raises(ValueError, match=r"env 0 returned a non-finite terminal observation: inf"):
        ScratchPPO("MlpPolicy", NaNAtTheEnd(ep_length=10), **SMALL).learn(64)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("learning_rate", -1e-3, r"learning_rate=-0.001: expected a number in \[0, inf\)"),
        ("clip_range", 0.0, r"clip_range=0.0: expected a number in \(0, inf\)"),
        ("clip_range", float("nan"), r"clip_range=nan: expected a number in \(0, inf\)"),
        ("gamma", 1.5, r"gamma=1.5: expected a number in \[0, 1\]"),
        ("gae_lambda", -0.1, r"gae_lambda=-0.1: expected a number in \[0, 1\]"),
        ("n_epochs", 0, r"n_epochs=0: expected an integer >= 1"),
        ("n_steps", 2.5, r"n_steps=2.5: expected an integer >= 1"),
        ("vf_coef", -0.5, r"vf_coef=-0.5: expected a number in \[0, inf\)"),
        ("max_grad_norm", 0.0, r"max_grad_norm=0.0: expected a number in \(0, inf\]"),
        ("target_kl", -0.01, r"target_kl=-0.01: expected a number in \(0, inf\)"),
        ("ent_coef", float("inf"), r"ent_coef=inf: expected a number in \(-inf, inf\)"),
        ("stats_window_size", 0, r"stats_window_size=0: expected an integer >= 1"),
    ],
)
def test_arguments_ppo_cannot_work_with_are_refused(name, value, expected):
    if name not in ("learning_rate", "n_steps"):  # torch's Adam refuses a negative rate; SB3's buffer a fractional size
        PPO("MlpPolicy", "CartPole-v1", **{**SMALL, name: value})  # SB3 accepts the others without a word
    with pytest.raises(ValueError, match=expected):
        ScratchPPO("MlpPolicy", "CartPole-v1", **{**SMALL, name: value})


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(learning_rate=0.0),
        dict(ent_coef=-0.01),
        dict(max_grad_norm=float("inf")),
        dict(gamma=1.0, gae_lambda=0.0),
        dict(target_kl=None, clip_range_vf=None),
        dict(learning_rate=lambda p: 1e-3 * p, clip_range=lambda p: 0.2),
    ],
)
def test_valid_arguments_are_all_accepted(kwargs):
    ScratchPPO("MlpPolicy", "CartPole-v1", **{**SMALL, **kwargs}).learn(64)


def test_a_schedule_leaving_its_range_raises_when_it_does():
    model = ScratchPPO("MlpPolicy", "CartPole-v1", learning_rate=lambda p: p - 0.5, **SMALL)
    with pytest.raises(ValueError, match=r"learning_rate=-0\.\d+ \(from its schedule\): expected a number in \[0, inf\)"):
        model.learn(256)
    assert model.num_timesteps > SMALL["n_steps"]  # the first updates (progress > 0.5) ran


def test_a_gpu_device_gets_sb3s_warning_saying_where_ours_computes():
    """SB3 warns "You are trying to run PPO on the GPU" for MlpPolicy (its _maybe_recommend_cpu, at the end of
    _setup_model). Ours warns at the same moment for every policy: it computes in NumPy on the CPU whatever the device."""
    import warnings

    import torch

    model = ScratchPPO("MlpPolicy", "CartPole-v1", device="cpu", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model._maybe_recommend_cpu()  # the CPU: nothing to say
    model.device = torch.device("cuda")  # as SB3's test_ppo_warnings pretends (this machine has no GPU)
    with pytest.warns(UserWarning, match=r"You are trying to run PPO on the GPU \(device=cuda\), but ScratchPPO computes"):
        model._maybe_recommend_cpu()
