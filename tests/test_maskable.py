"""ScratchMaskablePPO against sb3-contrib's MaskablePPO, live: the same weights and rollout give the same buffer (masks
included) and, after one update, the same weights, Adam state and logs; masks reach the policy through DummyVecEnv,
SubprocVecEnv, ActionMasker and a Gymnasium vector env; sb3-contrib's maskable evaluate_policy and MaskableEvalCallback
take the model; what cannot be masked is refused as sb3-contrib refuses it."""

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from sb3_scratch_ppo import ScratchMaskablePPO, ScratchPPO
from tests.extras import require
from tests.test_update_parity import ATOL, RTOL

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ENVS = {  # sb3-contrib's test envs: reward 1 for the one valid, wanted action; some actions invalid at each step
    "discrete": ("InvalidActionEnvDiscrete", dict(dim=20, n_invalid_actions=8)),
    "multidiscrete": ("InvalidActionEnvMultiDiscrete", dict(dims=[5, 6], n_invalid_actions=4)),
    "multibinary": ("InvalidActionEnvMultiBinary", dict(dims=6, n_invalid_actions=4)),
}


def make_env(name, n_envs=4, seed=0):
    require("sb3_contrib")
    from sb3_contrib.common import envs

    cls, kwargs = ENVS[name]
    return make_vec_env(functools.partial(getattr(envs, cls), **kwargs), n_envs=n_envs, seed=seed)


def make_pair(name, **kwargs):
    """MaskablePPO trained a little (Adam's moments not trivial), and ScratchMaskablePPO with its weights and Adam."""
    from sb3_contrib import MaskablePPO

    ref = MaskablePPO("MlpPolicy", make_env(name), seed=0, **kwargs)
    ref.learn(2 * ref.n_steps * ref.n_envs)
    ours = ScratchMaskablePPO("MlpPolicy", make_env(name), seed=0, **kwargs)
    ours.set_parameters(ref.get_parameters())
    return ref, ours


def start_rollout(model, name):
    """A fresh env (its action spaces' generators untouched) and the global NumPy generator the envs draw their
    invalid actions from, both seeded alike for either learner."""
    model.set_env(make_env(name))
    model.env.seed(0)
    np.random.seed(0)
    _, callback = model._setup_learn(10**6, None, reset_num_timesteps=True)
    callback.on_training_start(locals(), globals())
    return callback


def take_modes(model):
    if isinstance(model, ScratchMaskablePPO):
        cls = type(model.policy)
        model.policy.rollout_net = functools.partial(cls.rollout_net, model.policy, deterministic=True)
    else:
        model.policy.forward = functools.partial(type(model.policy).forward, model.policy, deterministic=True)


@pytest.mark.parametrize("name", list(ENVS))
def test_rollout_with_masks_matches_maskable_ppo(name):
    """Both take their distribution's mode under the env's masks: the same actions (never a masked one), values,
    log-probs, rewards and stored masks (float32: rtol 1e-4, as test_update_parity)."""
    ref, ours = make_pair(name, n_steps=32)
    for model in (ref, ours):
        take_modes(model)
        callback = start_rollout(model, name)
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    buf, st = ref.rollout_buffer, ours.rollout_buffer
    np.testing.assert_array_equal(st.action_masks, buf.action_masks.astype(bool))
    assert not st.action_masks.all()  # some actions were masked
    np.testing.assert_allclose(st.actions, buf.actions, rtol=RTOL, atol=ATOL)
    for field in ("rewards", "values", "log_probs", "advantages", "returns"):
        np.testing.assert_allclose(getattr(st, field), getattr(buf, field), rtol=RTOL, atol=1e-5, err_msg=field)


def copy_rollout(ref, ours):
    """MaskablePPO's collected rollout (masks included) into our storage."""
    buf, st = ref.rollout_buffer, ours.rollout_buffer
    T, N = buf.buffer_size, buf.n_envs
    st.inputs[:] = ours.policy.preprocess(buf.observations.reshape(T * N, *buf.obs_shape)).reshape(st.inputs.shape)
    st.action_rows[:] = buf.actions.reshape(st.action_rows.shape).astype(st.action_rows.dtype)
    st.action_masks[:] = buf.action_masks.reshape(st.action_masks.shape).astype(bool)
    for field in ("rewards", "episode_starts", "values", "log_probs", "advantages", "returns"):
        getattr(st, field)[:] = getattr(buf, field)
    st.flatten()


@pytest.mark.parametrize("name", list(ENVS))
def test_one_update_matches_maskable_ppo(name):
    """From the same weights, Adam state, rollout and minibatch order: the same new weights, Adam moments and logs.
    Negative control: the same update without the masks gives other weights."""
    ref, ours = make_pair(name, n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3, ent_coef=0.01)
    callback = start_rollout(ref, name)
    ref.collect_rollouts(ref.env, callback, ref.rollout_buffer, ref.n_steps)
    copy_rollout(ref, ours)
    _, control = make_pair(name, n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3, ent_coef=0.01)
    copy_rollout(ref, control)
    control.rollout_buffer.flat = control.rollout_buffer.flat._replace(action_masks=None)
    logs = {}
    for label, model in (("ref", ref), ("ours", ours), ("control", control)):
        model.set_logger(configure(None, []))
        model._current_progress_remaining = 0.6
        model._n_updates = 7
        np.random.seed(1234)
        model.train()
        logs[label] = dict(model.logger.name_to_value)
    assert logs["ours"].keys() == logs["ref"].keys()
    for key, value in logs["ref"].items():
        np.testing.assert_allclose(logs["ours"][key], value, rtol=1e-3, atol=1e-6, err_msg=key)
    ref_sd, ours_sd, control_sd = (m.policy.state_dict() for m in (ref, ours, control))
    assert list(ours_sd) == list(ref_sd)
    for key, value in ref_sd.items():
        np.testing.assert_allclose(ours_sd[key].numpy(), value.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
    ref_adam, ours_adam = ref.policy.optimizer.state_dict(), ours.policy.optimizer.state_dict()
    for i, state in ref_adam["state"].items():
        np.testing.assert_allclose(ours_adam["state"][i]["exp_avg"].numpy(), state["exp_avg"].numpy(), rtol=1e-3, atol=1e-7)
    assert not all(np.allclose(control_sd[k].numpy(), v.numpy(), rtol=RTOL, atol=ATOL) for k, v in ref_sd.items())


def test_masks_reach_the_policy_through_every_kind_of_env():
    """DummyVecEnv (env_method), SubprocVecEnv, an ActionMasker over an env without action_masks(), a Gymnasium
    SyncVectorEnv: every rollout action is one the env allowed."""
    require("sb3_contrib")
    from sb3_contrib.common.envs import InvalidActionEnvDiscrete
    from sb3_contrib.common.wrappers import ActionMasker
    from stable_baselines3.common.vec_env import SubprocVecEnv

    def masked_cartpole():  # CartPole where pushing left is never allowed, through sb3-contrib's wrapper
        return ActionMasker(gym.make("CartPole-v1"), lambda env: np.array([False, True]))

    envs = {
        "dummy": make_env("discrete"),
        "subproc": make_vec_env(
            lambda: InvalidActionEnvDiscrete(dim=20, n_invalid_actions=8), n_envs=2, vec_env_cls=SubprocVecEnv
        ),
        "action_masker": make_vec_env(masked_cartpole, n_envs=2),
        "gym_vector": gym.vector.SyncVectorEnv([lambda: InvalidActionEnvDiscrete(dim=20, n_invalid_actions=8)] * 2),
    }
    for kind, env in envs.items():
        model = ScratchMaskablePPO("MlpPolicy", env, n_steps=32, seed=0)
        model.learn(64)
        st = model.rollout_buffer
        taken = np.take_along_axis(st.action_masks, st.action_rows.reshape(*st.action_rows.shape[:2], 1), axis=2)
        assert taken.all() and not st.action_masks.all(), kind
        if kind == "action_masker":
            assert (st.action_rows == 1).all()
        model.get_env().close()


def test_sb3_contribs_evaluation_and_eval_callback_take_the_model(tmp_path):
    require("sb3_contrib")
    from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
    from sb3_contrib.common.maskable.evaluation import evaluate_policy

    model = ScratchMaskablePPO("MlpPolicy", make_env("discrete"), n_steps=32, seed=0)
    callback = MaskableEvalCallback(make_env("discrete", n_envs=1), eval_freq=32, n_eval_episodes=2, log_path=str(tmp_path))
    model.learn(256, callback=callback)
    assert callback.evaluations_results and (tmp_path / "evaluations.npz").exists()
    mean, _ = evaluate_policy(model, make_env("discrete", n_envs=1), n_eval_episodes=3, warn=False)
    assert np.isfinite(mean)
    env = make_env("discrete", n_envs=1)
    obs = env.reset()
    masks = np.stack(env.env_method("action_masks"))
    for _ in range(20):
        action, _ = model.predict(obs, action_masks=masks)
        assert masks[0, action[0]]


def test_what_cannot_be_masked_is_refused_as_sb3_contrib_refuses_it():
    with pytest.raises(ValueError, match=r"Environment does not support action masking\. Consider using ActionMasker"):
        ScratchMaskablePPO("MlpPolicy", "CartPole-v1", n_steps=32).learn(32)
    ScratchMaskablePPO("MlpPolicy", "CartPole-v1", n_steps=32).learn(32, use_masking=False)  # as MaskablePPO
    with pytest.raises(AssertionError, match="The algorithm only supports"):
        ScratchMaskablePPO("MlpPolicy", "Pendulum-v1")
    plain = ScratchPPO("MlpPolicy", "CartPole-v1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'action_masks'"):  # as SB3's PPO.predict
        plain.predict(np.zeros(4), action_masks=np.ones(2, bool))
    with pytest.raises(ValueError, match="action_masks: this policy does not mask actions"):
        plain.policy.predict(np.zeros(4), action_masks=np.ones(2, bool))


@pytest.mark.parametrize("name", list(ENVS))
def test_files_load_both_ways_with_maskable_ppo(tmp_path, name):
    """Ours saved -> sb3-contrib's MaskablePPO.load builds its own policy from it (the same masked mode actions) and
    trains on; MaskablePPO's file -> ours, read without unpickling, the same weights, trains on. Each refuses the other
    algorithm's files: ScratchPPO a MaskablePPO file (pointing to ScratchMaskablePPO), ScratchMaskablePPO a PPO file."""
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3 import PPO

    from sb3_scratch_ppo.files.model_file import ModelFileError

    env = make_env(name)
    ours = ScratchMaskablePPO("MlpPolicy", env, n_steps=32, seed=0).learn(64)
    ours.save(tmp_path / "ours")
    ref = MaskablePPO.load(tmp_path / "ours", env=env)
    assert type(ref.policy) is MaskableActorCriticPolicy
    obs, masks = env.reset(), np.stack(env.env_method("action_masks"))
    np.testing.assert_array_equal(
        ref.predict(obs, deterministic=True, action_masks=masks)[0],
        ours.predict(obs, deterministic=True, action_masks=masks)[0],
    )
    ref.learn(64)

    ref.save(tmp_path / "ref")
    back = ScratchMaskablePPO.load(tmp_path / "ref", env=env)
    for key, value in ref.policy.state_dict().items():
        np.testing.assert_array_equal(back.policy.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    back.learn(64)

    with pytest.raises(ModelFileError, match=r"ScratchPPO loads models saved by SB3's PPO.*load it with ScratchMaskablePPO"):
        ScratchPPO.load(tmp_path / "ref")
    PPO("MlpPolicy", "CartPole-v1", n_steps=32).save(tmp_path / "ppo")
    with pytest.raises(ModelFileError, match="ScratchMaskablePPO loads models saved by sb3-contrib's MaskablePPO"):
        ScratchMaskablePPO.load(tmp_path / "ppo")


@pytest.mark.parametrize("name", list(ENVS))
def test_three_learn_iterations_match_maskable_ppo_after_each_one(name):
    """The chained check of test_update_parity, with masks: three whole learn() iterations from the same weights,
    Adam state, env state and global NumPy generator (the envs draw their invalid actions from it; train() its
    minibatch order), both taking the mode: after each rollout and each update the same buffers, weights, Adam state,
    counters, schedules and train/* logs."""
    from tests.test_update_parity import CHAINED, Snapshots

    ref, ours = make_pair(name, **CHAINED)
    snapshots = {}
    for label, model in (("ref", ref), ("ours", ours)):
        take_modes(model)
        model.set_logger(configure(None, []))
        model.set_env(make_env(name))
        model.env.seed(0)
        np.random.seed(1234)
        model._n_updates = 0
        snapshots[label] = Snapshots()
        model.learn(3 * 64 * 4, callback=snapshots[label])
    want, got = snapshots["ref"], snapshots["ours"]
    assert len(want.rollouts) == len(got.rollouts) == 3 and len(want.iterations) == len(got.iterations) == 3
    for i, (r, g) in enumerate(zip(want.rollouts, got.rollouts, strict=True)):
        for field in ("rewards", "episode_starts", "values", "log_probs", "advantages", "returns"):
            np.testing.assert_allclose(g[field], r[field], rtol=RTOL, atol=1e-5, err_msg=f"rollout {i}: {field}")
    for i, (r, g) in enumerate(zip(want.iterations, got.iterations, strict=True)):
        where = f"after iteration {i + 1}"
        for key in ("num_timesteps", "progress_remaining", "lr", "clip_range", "n_updates"):
            assert g[key] == pytest.approx(r[key], rel=1e-12), (where, key)
        for key, value in r["weights"].items():
            np.testing.assert_allclose(g["weights"][key], value, rtol=RTOL, atol=ATOL, err_msg=f"{where}: {key}")
        for (step_g, m_g, _), (step_r, m_r, _) in zip(g["adam"], r["adam"], strict=True):
            assert step_g == step_r
            np.testing.assert_allclose(m_g, m_r, rtol=1e-3, atol=1e-7, err_msg=where)
        assert g["logs"].keys() == r["logs"].keys()
        for key, value in r["logs"].items():
            np.testing.assert_allclose(g["logs"][key], value, rtol=1e-3, atol=1e-6, err_msg=f"{where}: {key}")


@pytest.mark.parametrize("policy", ["CnnPolicy", "MultiInputPolicy"])
def test_image_and_dict_policies_match_maskable_ppo(policy):
    """MaskablePPO's CnnPolicy and MultiInputPolicy: one rollout taking the mode under the masks gives its buffer
    (float32: rtol 1e-4, as test_update_parity's image test), and one update from its rollout gives its weights,
    Adam state and logs in float64 on both sides (rtol 1e-6: test_image_and_dict_rollout_and_update_match_sb3 says
    why a float32 convolution's update cannot be compared weight by weight on every CPU). Negative control: the same
    update without the masks gives other weights."""
    from sb3_contrib import MaskablePPO

    from tests.envs import MaskedImageEnv
    from tests.test_update_parity import IMAGE_POLICIES, as_our_storage, one_float64_update_matches_sb3, sb3_in_float64

    require("sb3_contrib")
    kwargs = dict(n_steps=24, batch_size=16, n_epochs=2, learning_rate=3e-4)

    def env():
        return make_vec_env(MaskedImageEnv, n_envs=2, seed=0, env_kwargs=IMAGE_POLICIES[policy])

    ref = MaskablePPO(policy, env(), seed=0, **kwargs)
    ref.learn(2 * 24 * 2)  # Adam's moments not trivial
    ours = ScratchMaskablePPO(policy, env(), seed=0, **kwargs)
    ours.set_parameters(ref.get_parameters())
    for model in (ref, ours):
        take_modes(model)
        model.env.seed(0)
        _, callback = model._setup_learn(10**6, None, reset_num_timesteps=True)
        callback.on_training_start(locals(), globals())
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    buf, st = ref.rollout_buffer, ours.rollout_buffer
    np.testing.assert_array_equal(st.action_masks, buf.action_masks.astype(bool))
    assert (~st.action_masks).sum() == st.action_masks.shape[0] * st.action_masks.shape[1]  # one masked a step
    np.testing.assert_array_equal(st.actions.reshape(-1), buf.actions.reshape(-1))
    for field in ("rewards", "values", "log_probs", "advantages", "returns"):
        np.testing.assert_allclose(getattr(st, field), getattr(buf, field), rtol=1e-4, atol=1e-5, err_msg=field)

    def float64_copy(masked: bool):
        model = ScratchMaskablePPO(policy, env(), seed=0, policy_kwargs=dict(dtype=np.float64), **kwargs)
        model.set_parameters(ref.get_parameters())  # its weights and Adam state (a rollout changes neither)
        st = model.rollout_buffer
        st.inputs = as_our_storage(model, buf.observations)
        st.action_rows = buf.actions.reshape(st.action_rows.shape).astype(st.action_rows.dtype)
        st.action_masks[:] = buf.action_masks.reshape(st.action_masks.shape).astype(bool)
        for field in ("rewards", "episode_starts", "values", "log_probs", "advantages", "returns"):
            setattr(st, field, getattr(buf, field).reshape(getattr(st, field).shape).astype(np.float64))
        st.flatten()
        if not masked:
            st.flat = st.flat._replace(action_masks=None)
        return model

    ours, control = float64_copy(masked=True), float64_copy(masked=False)
    control.set_logger(configure(None, []))
    np.random.seed(1234)
    control.train()
    sb3_in_float64(ref)
    one_float64_update_matches_sb3(ref, ours)
    ref_sd = ref.policy.state_dict()
    assert not all(
        np.allclose(view, ref_sd[key].numpy(), rtol=1e-6, atol=1e-9) for key, view in control.policy.state_views().items()
    )


def test_taxi_masks_are_taxis_own_and_the_config_entries_load():
    """scratch_envs.masked.TaxiActionMasks offers Taxi's own masks (the ones it puts in each step's info) through
    make_vec_env's wrappers, so sb3-contrib's get_action_masks reads them; configs/maskable.yml's entries load."""
    from sb3_contrib.common.maskable.utils import get_action_masks

    from sb3_scratch_ppo import zoo

    require("sb3_contrib")
    env = zoo.load("Taxi-v4", zoo.MASKABLE_PATH).make_env(seed=0, n_envs=2)
    env.reset()
    rng = np.random.default_rng(0)
    masks = get_action_masks(env)
    for _ in range(300):
        assert masks.any(axis=1).all()
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])  # a random legal action each
        _, rewards, dones, infos = env.step(actions)
        assert (rewards != -10).all()  # Taxi's penalty for an illegal pick-up or drop-off: never taken
        masks = get_action_masks(env)
        for i, info in enumerate(infos):
            if not dones[i]:
                np.testing.assert_array_equal(masks[i], info["action_mask"].astype(bool))
    with pytest.raises(TypeError, match="TaxiActionMasks wraps Gymnasium's Taxi"):
        from scratch_envs.masked import TaxiActionMasks

        TaxiActionMasks(gym.make("CartPole-v1"))
    identity = zoo.load("InvalidActionEnvDiscrete-v0", zoo.MASKABLE_PATH)
    assert identity.kwargs == {"gamma": 0.4} and identity.make_env(seed=0).reset().shape == (1,)
