"""The zoo loader: each rl-baselines3-zoo convention, each error, and kwargs that fit PPO and ScratchPPO alike."""

import pickle

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn

from sb3_scratch_ppo import ScratchPPO, zoo
from tests.extras import require


def write(tmp_path, text):
    path = tmp_path / "ppo.yml"
    path.write_text(text)
    return path


def test_cartpole_entry_has_the_zoo_tuned_values():
    config = zoo.load("CartPole-v1")
    assert (config.n_envs, config.n_timesteps, config.policy, config.normalize) == (8, 100_000, "MlpPolicy", None)
    kw = config.kwargs
    names = ("n_steps", "batch_size", "gae_lambda", "gamma", "n_epochs", "ent_coef")
    assert tuple(kw[name] for name in names) == (32, 256, 0.8, 0.98, 20, 0.0)
    assert kw["learning_rate"](1.0) == 0.001 and kw["learning_rate"](0.5) == 0.0005
    assert kw["clip_range"](1.0) == 0.2 and kw["clip_range"](0.25) == pytest.approx(0.05)
    assert zoo.load("ScratchCartPole-v0").kwargs.keys() == kw.keys()


@pytest.mark.parametrize("env_id", list(zoo.read_entries()))
def test_every_entry_builds_and_trains_one_iteration_in_both_algorithms(env_id):
    """Every shared config runs here (LunarLander-v3 needs Box2D, from the parity extra that make test installs)."""
    if env_id.startswith("LunarLander"):
        require("Box2D")
    config = zoo.load(env_id)
    for algo in (PPO, ScratchPPO):
        model = algo(config.policy, config.make_env(seed=0), seed=0, **config.kwargs)
        assert model.n_envs == config.n_envs and model.n_steps == config.kwargs.get("n_steps", 2048)
        assert isinstance(model.env, VecNormalize) == (config.normalize is not None)
        model.learn(1)  # one rollout and one update
        assert model.num_timesteps == model.n_steps * model.n_envs and model._n_updates == model.n_epochs


def test_normalize_uses_the_agents_gamma():
    config = zoo.load("Acrobot-v1")
    assert config.normalize == {"gamma": 0.99}
    assert config.make_env(seed=0).gamma == 0.99


def test_sde_entries_build_the_same_network_as_sb3():
    for env_id in ("Pendulum-v1", "MountainCarContinuous-v0"):
        config = zoo.load(env_id)
        assert config.uses_sde
        shapes = [
            [
                (k, tuple(v.shape))
                for k, v in algo(config.policy, config.make_env(seed=0), **config.kwargs).get_parameters()["policy"].items()
            ]
            for algo in (ScratchPPO, PPO)
        ]
        assert shapes[0] == shapes[1] and shapes[0][0] == ("log_std", (64, 1))


def test_policy_kwargs_string_is_parsed_without_eval():
    config = zoo.load("MountainCarContinuous-v0")
    assert config.kwargs["policy_kwargs"] == {"log_std_init": -3.29, "ortho_init": False}
    text = (
        "dict(log_std_init=-2,\n ortho_init=False,\n activation_fn=nn.ReLU,\n net_arch=[dict(pi=[256, 256], vf=[256, 256])])"
    )
    assert zoo.parse_literal(text, "here") == {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": nn.ReLU,
        "net_arch": [{"pi": [256, 256], "vf": [256, 256]}],
    }
    assert zoo.parse_literal("{'norm_obs': False, 'norm_reward': True}", "here") == {"norm_obs": False, "norm_reward": True}
    assert zoo.parse_literal("dict(activation_fn=th.nn.Tanh)", "here")["activation_fn"] is nn.Tanh


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("__import__('os').system('echo hi')", "is not allowed"),
        ("dict(x=open('f'))", r"open\('f'\).* is not allowed"),
        ("dict(activation_fn=os.system)", "'os.system' is not allowed; only torch.nn classes"),
        ("dict(activation_fn=nn.NoSuchThing)", "torch.nn has no class 'NoSuchThing'"),
        ("dict(a=1", "cannot parse"),
        ("dict(a=1 + 2)", "is not allowed"),
    ],
)
def test_parse_literal_refuses_anything_but_literals(text, pattern):
    with pytest.raises(zoo.ConfigError, match=pattern):
        zoo.parse_literal(text, "f.yml: X.policy_kwargs")


def test_lin_schedules_are_picklable_like_sb3_needs_for_save():
    schedule = pickle.loads(pickle.dumps(zoo.LinearSchedule(0.5)))
    assert schedule(0.2) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "text, error, pattern",
    [
        (
            "CartPole-v1:\n  n_timesteps: 1000\n  learnin_rate: 0.1\n",
            zoo.ConfigError,
            r"ppo.yml: CartPole-v1.learnin_rate: unknown hyperparameter",
        ),
        (
            "CartPole-v1:\n  n_timesteps: 1000\n  learning_rate: lin_x\n",
            zoo.ConfigError,
            r"CartPole-v1.learning_rate: 'lin_x' is not a lin_<x> schedule",
        ),
        (
            "CartPole-v1:\n  n_timesteps: 1000\n  clip_range: exp_0.1\n",
            zoo.ConfigError,
            r"CartPole-v1.clip_range: 'exp_0.1' is not a number",
        ),
        (
            "CartPole-v1:\n  n_timesteps: 1000\n  policy_kwargs: '[1, 2]'\n",
            zoo.ConfigError,
            r"CartPole-v1.policy_kwargs: expected a dict",
        ),
        ("CartPole-v1:\n  n_timesteps: 1000\n  normalize: 3\n", zoo.ConfigError, r"CartPole-v1.normalize: expected true"),
        ("CartPole-v1:\n  n_timesteps: -5\n", zoo.ConfigError, r"CartPole-v1.n_timesteps: expected a positive number"),
        ("CartPole-v1:\n  n_envs: 8\n", zoo.ConfigError, r"CartPole-v1: n_timesteps is missing"),
        ("CartPole-v1: 3\n", zoo.ConfigError, r"CartPole-v1: expected a mapping"),
        ("Acrobot-v1:\n  n_timesteps: 10\n", KeyError, r"no entry for env id 'CartPole-v1'; entries: \['Acrobot-v1'\]"),
    ],
)
def test_malformed_entries_name_the_file_and_key(tmp_path, text, error, pattern):
    with pytest.raises(error, match=pattern):
        zoo.load("CartPole-v1", write(tmp_path, text))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.yml not found"):
        zoo.load("CartPole-v1", tmp_path / "nope.yml")


def test_normalize_dict_literal(tmp_path):
    text = "CartPole-v1:\n  n_timesteps: 1000\n  gamma: 0.9\n  normalize: \"{'norm_obs': False}\"\n"
    config = zoo.load("CartPole-v1", write(tmp_path, text))
    assert config.normalize == {"gamma": 0.9, "norm_obs": False}
    env = config.make_env(seed=0)
    assert isinstance(env, VecNormalize) and not env.norm_obs and env.gamma == 0.9
    assert np.isfinite(env.reset()).all()


def test_the_zoo_atari_section_trains_scratch_ppo_on_an_ale_game():
    """An ALE game without an entry of its own takes the `atari` entry (the package's configs/atari.yml, the zoo's section):
    AtariWrapper, 4 stacked frames, CnnPolicy; SB3's VecTransposeImage makes them (4, 84, 84). One iteration runs."""
    require("ale_py")
    require("cv2")
    config = zoo.load("PongNoFrameskip-v4", zoo.ATARI_PATH)
    assert (config.policy, config.n_envs, config.frame_stack) == ("CnnPolicy", 8, 4)
    assert config.env_wrapper == (("stable_baselines3.common.atari_wrappers.AtariWrapper", {}),)
    assert config.kwargs["learning_rate"](1.0) == 2.5e-4 and config.kwargs["clip_range"](0.5) == 0.05
    model = ScratchPPO(config.policy, config.make_env(seed=0, n_envs=2), seed=0, **config.kwargs)
    assert type(model.env).__name__ == "VecTransposeImage" and model.observation_space.shape == (4, 84, 84)
    assert model.rollout_buffer.observations.dtype == np.uint8
    model.learn(1)
    assert model.num_timesteps == 2 * 128


def test_a_list_of_env_wrappers_is_applied_in_order():
    """the package's configs/observations.yml: MiniGrid drawn as an RGB image (RGBImgObsWrapper), then that image alone
    (ImgObsWrapper): the zoo's order, the first listed is innermost."""
    require("minigrid")
    config = zoo.load("MiniGrid-Empty-5x5-v0", zoo.OBSERVATIONS_PATH)
    assert [name.rsplit(".", 1)[1] for name, _ in config.env_wrapper] == ["RGBImgObsWrapper", "ImgObsWrapper"]
    env = config.make_env(seed=0, n_envs=2)
    assert env.observation_space.shape == (40, 40, 3) and env.reset().shape == (2, 40, 40, 3)


@pytest.mark.parametrize(
    "wrapper",
    ["os.system", "[minigrid.wrappers.ImgObsWrapper, os.system]", '["a.B", "c.D"]', '{"gymnasium.wrappers.TimeLimit": {}}'],
)
def test_env_wrappers_other_than_atari_are_refused(tmp_path, wrapper):
    path = write(tmp_path, f"Foo-v0:\n  n_timesteps: 100\n  env_wrapper: {wrapper}\n")
    with pytest.raises(zoo.ConfigError, match=r"Foo-v0\.env_wrapper: .*the env wrappers accepted are"):
        zoo.load("Foo-v0", path)
