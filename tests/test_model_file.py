"""Model files never run code (sb3_scratch_ppo/model_file.py): pickled payloads in any key of `data` are never
unpickled, SB3's files of every kind still load and predict as SB3 does, and bad files get errors naming them.

The payload is a pickle whose __reduce__ writes a marker file. SB3's own PPO.load runs it (the control, which shows
that the file is live); ScratchPPO.load must load or refuse every such file with the marker never written.
"""

import base64
import io
import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_util import make_vec_env

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.files import model_file

SMALL = dict(n_steps=32, batch_size=32, n_epochs=2, seed=0)


class Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def serialized(marker: Path) -> dict:
    return {":type:": "<class 'int'>", ":serialized:": base64.b64encode(pickle.dumps(Payload(marker))).decode()}


def rewrite(src: Path, dst: Path, edit) -> Path:
    """A copy of the zip src with its data edited by edit(data) (members otherwise byte for byte)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            blob = zin.read(item.filename)
            if item.filename == "data":
                data = json.loads(blob)
                edit(data)
                blob = json.dumps(data, indent=4).encode()
            zout.writestr(item, blob)
    return dst


@pytest.fixture(scope="module")
def sb3_zip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sb3") / "ppo.zip"
    PPO("MlpPolicy", "CartPole-v1", **SMALL).learn(64).save(path)
    return path


def keys_of(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return list(json.loads(z.read("data")))


def test_the_payload_runs_in_sb3s_loader(sb3_zip, tmp_path):
    """The control: SB3's PPO.load executes a payload in a key it does not even know."""
    marker = tmp_path / "marker"
    crafted = rewrite(sb3_zip, tmp_path / "crafted.zip", lambda d: d.update(zzz_extra_key=serialized(marker)))
    try:
        PPO.load(crafted)
    except Exception:
        pass
    assert marker.read_text() == "ran"


@pytest.mark.parametrize(
    "key",
    [
        "zzz_extra_key",
        "policy_class",
        "learning_rate",
        "lr_schedule",
        "clip_range",
        "observation_space",
        "action_space",
        "policy_kwargs",
        "_last_obs",
        "_last_episode_starts",
        "ep_info_buffer",
        "ep_success_buffer",
        "rollout_buffer_class",
        "action_noise",
        "env",
    ],
)
@pytest.mark.parametrize("with_env", [True, False])
def test_a_pickled_payload_never_runs(sb3_zip, tmp_path, key, with_env):
    marker = tmp_path / "marker"
    crafted = rewrite(sb3_zip, tmp_path / "crafted.zip", lambda d: d.update({key: serialized(marker)}))
    env = make_vec_env("CartPole-v1", n_envs=1, seed=1) if with_env else None
    try:
        model = ScratchPPO.load(crafted, env=env)
    except model_file.ModelFileError as e:
        assert "crafted.zip" in str(e) and key in str(e)  # refused, naming the file and the key
    else:
        model.predict(np.zeros(4, dtype=np.float32))
    assert not marker.exists()
    with pytest.warns(UserWarning, match="unknown key ignored") if key == "zzz_extra_key" else _nothing():
        try:
            ScratchPPO.load(crafted, env=env)
        except model_file.ModelFileError:
            pass
    assert not marker.exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_weights_files_are_read_weights_only(sb3_zip, tmp_path):
    """A .pth member that is a full pickle (a payload, not tensors) is refused by torch's weights-only reader."""
    marker = tmp_path / "marker"
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(sb3_zip) as zin, zipfile.ZipFile(crafted, "w") as zout:
        for item in zin.infolist():
            blob = zin.read(item.filename)
            if item.filename == "policy.pth":
                buffer = io.BytesIO()
                torch.save({"x": Payload(marker)}, buffer)
                blob = buffer.getvalue()
            zout.writestr(item, blob)
    with pytest.raises(model_file.ModelFileError, match=r"crafted\.zip: a weights file holds something other than"):
        ScratchPPO.load(crafted)
    assert not marker.exists()


# --- SB3's files load and predict as SB3 does ---------------------------------------------------------------


def same_predictions(ours, ref, n=32):
    """Discrete actions equal; continuous ones to float32 rounding (our matmuls sum in another order than torch's)."""
    obs = np.stack([ref.observation_space.sample() for _ in range(n)])
    np.testing.assert_allclose(
        ours.predict(obs, deterministic=True)[0], ref.predict(obs, deterministic=True)[0], rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("CartPole-v1", {}),
        (
            "Acrobot-v1",
            {
                "policy_kwargs": dict(
                    net_arch=dict(pi=[16], vf=[8]), activation_fn=torch.nn.ReLU, optimizer_kwargs=dict(betas=(0.8, 0.9))
                )
            },
        ),
        ("Pendulum-v1", {"use_sde": True, "clip_range_vf": 0.3}),
    ],
)
def test_sb3_models_load_without_an_env(tmp_path, env_id, kwargs):
    """No env: the spaces are rebuilt from the file (float32 bounds, Discrete) and equal SB3's."""
    ref = PPO("MlpPolicy", env_id, **SMALL, **kwargs).learn(64)
    ref.save(tmp_path / "m")
    ours = ScratchPPO.load(tmp_path / "m")
    assert ours.observation_space == ref.observation_space and ours.action_space == ref.action_space
    assert ours.env is None and ours.num_timesteps == 64 and ours.policy_kwargs.keys() == ref.policy_kwargs.keys()
    same_predictions(ours, ref)
    ours.set_env(make_vec_env(env_id, n_envs=1, seed=2))
    ours.learn(32)


def test_zoo_schedules_load_without_rl_zoo3(sb3_zip, tmp_path):
    """A zoo-trained model's `lin_0.001` is rl_zoo3.utils.SimpleLinearSchedule: rebuilt from its text, the blob never
    read (here it is garbage), so rl_zoo3 need not be installed."""

    def as_zoo(data):
        data["learning_rate"] = {
            ":type:": "<class 'rl_zoo3.utils.SimpleLinearSchedule'>",
            ":serialized:": "garbage",
            "initial_value": 0.001,
        }
        data["clip_range"] = {
            ":type:": "<class 'stable_baselines3.common.utils.FloatSchedule'>",
            ":serialized:": "garbage",
            "value_schedule": "SimpleLinearSchedule(initial_value=0.2)",
        }

    model = ScratchPPO.load(rewrite(sb3_zip, tmp_path / "zoo.zip", as_zoo), env=make_vec_env("CartPole-v1", n_envs=1))
    assert model.learning_rate(0.5) == 0.0005 and model.clip_range(0.25) == 0.05
    model.learn(32)


def test_a_function_schedule_predicts_and_asks_for_itself_to_train(tmp_path):
    ref = PPO("MlpPolicy", "CartPole-v1", learning_rate=lambda p: 3e-4 * p, **SMALL).learn(32)
    ref.save(tmp_path / "m")
    with pytest.warns(UserWarning, match=r"Could not deserialize object learning_rate\. Consider using `custom_objects`"):
        ours = ScratchPPO.load(tmp_path / "m", env=make_vec_env("CartPole-v1", n_envs=1))  # as SB3 where it cannot
    same_predictions(ours, ref)
    with pytest.raises(ValueError, match=r"data\['learning_rate'\] is a function .*custom_objects=\{'learning_rate'"):
        ours.learn(32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the schedule given: nothing to warn about
        ours = ScratchPPO.load(
            tmp_path / "m", env=make_vec_env("CartPole-v1", n_envs=1), custom_objects={"learning_rate": 1e-4}
        )
    ours.learn(32)
    assert ours.policy.optimizer.param_groups[0]["lr"] == 1e-4


# --- bad files: errors that name the file and the problem -------------------------------------------------


def test_bad_files_get_clear_errors(sb3_zip, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model file '.*nowhere' not found \(nor .*nowhere\.zip\)"):
        ScratchPPO.load(tmp_path / "nowhere")
    (tmp_path / "junk.zip").write_bytes(os.urandom(300))
    with pytest.raises(model_file.ModelFileError, match=r"junk\.zip: not a model file: not a zip archive"):
        ScratchPPO.load(tmp_path / "junk.zip")
    blob = sb3_zip.read_bytes()
    (tmp_path / "truncated.zip").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(model_file.ModelFileError, match=r"truncated\.zip: .*truncated or corrupt"):
        ScratchPPO.load(tmp_path / "truncated.zip")
    with zipfile.ZipFile(sb3_zip) as z:
        info = z.getinfo("policy.pth")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    corrupt = bytearray(blob)
    corrupt[start : start + 8] = bytes(8)  # zeroes inside policy.pth's compressed bytes: its CRC fails
    (tmp_path / "corrupt.zip").write_bytes(bytes(corrupt))
    with pytest.raises(model_file.ModelFileError, match=r"corrupt\.zip: corrupt model file: Bad CRC-32 .*policy\.pth"):
        ScratchPPO.load(tmp_path / "corrupt.zip")
    with zipfile.ZipFile(tmp_path / "nodata.zip", "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(model_file.ModelFileError, match=r"nodata\.zip: a zip without 'data'"):
        ScratchPPO.load(tmp_path / "nodata.zip")
    rewrite(sb3_zip, tmp_path / "badtype.zip", lambda d: d.update(n_epochs="10; rm -rf /"))
    with pytest.raises(model_file.ModelFileError, match=r"badtype\.zip: data\['n_epochs'\]: expected int"):
        ScratchPPO.load(tmp_path / "badtype.zip")


def test_an_activation_the_policy_lacks_is_refused_at_the_file_check(tmp_path):
    """The file check and the policy read one list of activations (nn.layers.ACTIVATIONS): an SB3 model with GELU
    is refused by name, with the file named, not accepted and then failed inside the policy."""
    PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn=torch.nn.GELU), **SMALL).save(tmp_path / "gelu")
    with pytest.raises(model_file.ModelFileError, match=r"gelu\.zip: data\['policy_kwargs'\]\['activation_fn'\]: .*GELU"):
        ScratchPPO.load(tmp_path / "gelu")


def test_models_of_other_algorithms_are_named(tmp_path):
    DQN("MlpPolicy", "CartPole-v1").save(tmp_path / "dqn")
    with pytest.raises(model_file.ModelFileError, match=r"dqn\.zip: saved by another algorithm \(DQN"):
        ScratchPPO.load(tmp_path / "dqn")
    A2C("MlpPolicy", "CartPole-v1").save(tmp_path / "a2c")
    with pytest.raises(model_file.ModelFileError, match=r"a2c\.zip: saved by another algorithm \(A2C"):
        ScratchPPO.load(tmp_path / "a2c")


def test_spaces_that_do_not_match_the_env_show_both(sb3_zip):
    with pytest.raises(
        model_file.ModelFileError,
        match=r"observation_space'\]: the env's space Box\(.*\(6,\).*does not match the file's "
        r".*Box\(dtype=float32, _shape=\[4\]",
    ):
        ScratchPPO.load(sb3_zip, env=make_vec_env("Acrobot-v1", n_envs=1))


def test_a_float64_box_loads_exactly_without_the_env(tmp_path):
    """float64 bounds printed by NumPy may be rounded; the restricted reader (files/arrays.py) gives the exact ones.
    Where it cannot read the space, the printed text is used only if exact: here it is not, so the error asks for env=."""
    import gymnasium as gym

    env = gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"), lambda o: o.astype(np.float64), gym.spaces.Box(-1.0, 1.0 / 3, (4,), np.float64)
    )
    PPO("MlpPolicy", env, **SMALL).save(tmp_path / "m")
    assert ScratchPPO.load(tmp_path / "m").observation_space == env.observation_space  # 1/3 to the last bit

    def unreadable(data):
        data["observation_space"][":serialized:"] = base64.b64encode(b"not a pickle").decode()

    rewrite(tmp_path / "m.zip", tmp_path / "text_only.zip", unreadable)
    with pytest.raises(model_file.ModelFileError, match=r"the bound .* may have been rounded.*pass env="):
        ScratchPPO.load(tmp_path / "text_only.zip")
    assert ScratchPPO.load(tmp_path / "text_only.zip", env=env).observation_space == env.observation_space


@pytest.mark.parametrize("policy", ["CnnPolicy", "MultiInputPolicy"])
def test_image_and_dict_models(tmp_path, policy):
    """An image space's bounds are printed in summary ('...'): the restricted reader gives them, so an image model
    loads without its env (SB3's test_cnn does this) and predicts as SB3's. A Dict's sub-spaces are not read: without
    the env the file says so; with it, SB3's model predicts as in SB3."""
    from stable_baselines3.common.envs import FakeImageEnv, SimpleMultiObsEnv

    make = (lambda: FakeImageEnv(screen_height=36, screen_width=36)) if policy == "CnnPolicy" else SimpleMultiObsEnv
    env = make_vec_env(make, n_envs=1, seed=0)
    ref = PPO(policy, env, n_steps=16, batch_size=16, n_epochs=1, seed=0)
    ref.save(tmp_path / "m")
    obs = env.reset()
    if policy == "CnnPolicy":
        ours = ScratchPPO.load(tmp_path / "m")
        assert ours.observation_space == ref.observation_space  # (3, 36, 36) uint8 in [0, 255], transposed
    else:
        with pytest.raises(
            model_file.ModelFileError,
            match=r"observation_space'\]: the file describes the space only in part .*pass env=",
        ):
            ScratchPPO.load(tmp_path / "m")
        ours = ScratchPPO.load(tmp_path / "m", env=env)
    np.testing.assert_array_equal(ours.predict(obs, deterministic=True)[0], ref.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("policy", ["MlpPolicy", "CnnPolicy"])
def test_scratch_ppo_files_load_in_sb3s_ppo(tmp_path, policy):
    """Our zips name SB3's policy (and extractor) classes: SB3's PPO.load builds its own torch policy from our
    weights and Adam state, predicts our actions and trains on."""
    from stable_baselines3.common.envs import FakeImageEnv
    from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy

    from sb3_scratch_ppo.nn.extractors import NatureCNN  # ours: the file names SB3's

    if policy == "MlpPolicy":
        env, kwargs = make_vec_env("CartPole-v1", n_envs=2, seed=0), {}
    else:
        env = make_vec_env(lambda: FakeImageEnv(screen_height=36, screen_width=36), n_envs=2, seed=0)
        kwargs = {"policy_kwargs": {"features_extractor_class": NatureCNN, "features_extractor_kwargs": {"features_dim": 32}}}
    ours = ScratchPPO(policy, env, **SMALL, **kwargs).learn(64)
    ours.save(tmp_path / "ours")
    ref = PPO.load(tmp_path / "ours", env=env)
    assert type(ref.policy) is {"MlpPolicy": ActorCriticPolicy, "CnnPolicy": ActorCriticCnnPolicy}[policy]
    obs = env.reset()
    np.testing.assert_array_equal(ref.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0])
    ref.learn(64)
    assert type(ScratchPPO.load(tmp_path / "ours", env=env).policy).__module__.startswith("sb3_scratch_ppo.polic")  # ours
    if policy == "CnnPolicy":
        assert ours.policy_kwargs["features_extractor_class"] is NatureCNN  # save() left ours as it was


@pytest.mark.parametrize("key", ["_last_obs", "_last_episode_starts", "_last_original_obs", "observation_space"])
def test_the_restricted_reader_runs_nothing(sb3_zip, tmp_path, key):
    """The keys read by the restricted reader (files/arrays.py: force_reset=False, a Box without env=) with a payload
    in them, even one that claims to be a Box: refused or ignored with a warning naming the file and key, never run."""
    marker = tmp_path / "marker"

    def plant(data):
        data[key] = serialized(marker)
        data[key][":type:"] = "<class 'gymnasium.spaces.box.Box'>" if key == "observation_space" else "<class 'numpy.ndarray'>"

    crafted = rewrite(sb3_zip, tmp_path / "crafted.zip", plant)
    if key == "observation_space":  # the reader refuses it, then the text (none here) cannot describe the space
        with pytest.raises(model_file.ModelFileError, match=r"crafted.zip: data\['observation_space'\]"):
            ScratchPPO.load(crafted)
    else:
        message = rf"force_reset=False\): .*crafted.zip: data\['{key}'\]: not read .*Path.write_text"
        with pytest.warns(UserWarning, match=message):
            ScratchPPO.load(crafted, env=make_vec_env("CartPole-v1", n_envs=1), force_reset=False)
    assert not marker.exists()


def test_object_arrays_and_foreign_classes_are_refused():
    from sb3_scratch_ppo.files.arrays import read_pickled

    def blob(obj, protocol=5):
        return {
            ":type:": "<class 'numpy.ndarray'>",
            ":serialized:": base64.b64encode(pickle.dumps(obj, protocol=protocol)).decode(),
        }

    with pytest.raises(model_file.ModelFileError, match="dtype object"):
        read_pickled(blob(np.array([1, "a"], dtype=object)), "f.zip: data['_last_obs']")
    with pytest.raises(model_file.ModelFileError, match=r"numpy\.ma\.core"):
        read_pickled(blob(np.ma.masked_array([1.0, 2.0])), "f.zip: data['_last_obs']")
    for protocol in (2, 3, 4, 5):  # every protocol's way of writing an array, Fortran order included
        array = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
        got = read_pickled(blob({"a": array, "b": np.array([True, False])}, protocol), "f")
        np.testing.assert_array_equal(got["a"], array)
        assert got["a"].dtype == np.float32 and got["b"].dtype == bool


def test_force_reset_false_continues_the_episodes(tmp_path):
    """SB3's load(force_reset=False): the saved last observations and episode starts come back, so training goes on
    from where the env is (SB3's test_set_env). Where they cannot, a warning says the env will be reset."""
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = PPO("MlpPolicy", env, **SMALL).learn(64)  # SB3 writes the file: both libraries' files hold the same keys
    model.save(tmp_path / "m")
    ours = ScratchPPO.load(tmp_path / "m", env=env, force_reset=False)
    np.testing.assert_array_equal(ours._last_obs, model._last_obs)
    np.testing.assert_array_equal(ours._last_episode_starts, model._last_episode_starts)
    ours.learn(64, reset_num_timesteps=False)
    assert ours.num_timesteps == model.num_timesteps + 64
    ours.save(tmp_path / "ours")
    again = ScratchPPO.load(tmp_path / "ours", env=env, force_reset=False)
    np.testing.assert_array_equal(again._last_obs, ours._last_obs)

    assert ScratchPPO.load(tmp_path / "m", env=env)._last_obs is None  # force_reset=True (the default): reset
    with pytest.warns(UserWarning, match=r"_last_obs has shape \(2, 4\), where this env \(3 envs"):
        assert ScratchPPO.load(tmp_path / "m", env=make_vec_env("CartPole-v1", n_envs=3), force_reset=False)._last_obs is None
    PPO("MlpPolicy", env, **SMALL).save(tmp_path / "untrained")
    with pytest.warns(UserWarning, match="holds no last observation"):
        ScratchPPO.load(tmp_path / "untrained", env=env, force_reset=False)


def test_force_reset_false_with_dict_observations(tmp_path):
    from stable_baselines3.common.envs import SimpleMultiObsEnv

    env = make_vec_env(SimpleMultiObsEnv, n_envs=1, seed=0)
    ours = ScratchPPO("MultiInputPolicy", env, **SMALL).learn(32)
    ours.save(tmp_path / "m")
    loaded = ScratchPPO.load(tmp_path / "m", env=env, force_reset=False)
    assert set(loaded._last_obs) == set(ours._last_obs)
    for key in ours._last_obs:
        np.testing.assert_array_equal(loaded._last_obs[key], ours._last_obs[key])


def test_the_reader_calls_nothing_it_names_as_a_class():
    """A pickle that calls numpy.ndarray itself (instead of naming it for _reconstruct) is refused."""
    from sb3_scratch_ppo.files.arrays import read_pickled

    crafted = b"\x80\x02cnumpy\nndarray\nK\n\x85R."  # protocol 2: numpy.ndarray((10,))
    with pytest.raises(model_file.ModelFileError, match=r"numpy\.ndarray is named in the file only as a class"):
        read_pickled({":type:": "x", ":serialized:": base64.b64encode(crafted).decode()}, "f")
