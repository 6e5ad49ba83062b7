"""Gymnasium's own vector envs passed to ScratchPPO as they are (SB3 #1608, #1568: SB3 raises): step by step the same
observations, rewards, dones, terminal observations, truncation flags, episode statistics and reset infos as SB3's
make_vec_env (a DummyVecEnv of Monitor-wrapped envs) for the same seeds and actions, in every autoreset mode; the
same training, bit for bit; a clear error for what cannot be adapted."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import scratch_envs  # noqa: F401  (registers SimpleMultiObs-v0 and ScratchCartPole-v0)
from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.vec_env import VectorEnvAdapter

N = 4
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]
# Time limits short enough that episodes end by the time limit and (CartPole) by falling, many times in 300 steps.
ENVS = {
    "CartPole-v1": dict(max_episode_steps=30),
    "Pendulum-v1": dict(max_episode_steps=40),
    "SimpleMultiObs-v0": dict(),  # a Dict observation space (image and vector); episodes of at most 100 steps
    "ScratchCartPole-v0": dict(max_episode_steps=30),
}


def make_one(env_id):
    return gym.make(env_id, **ENVS[env_id])


def random_actions(space, rng):
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=N)
    return rng.uniform(space.low, space.high, size=(N, *space.shape)).astype(space.dtype)


def assert_same(a, b, what):
    if isinstance(b, dict):
        assert a.keys() == b.keys(), what
        for k in b:
            assert_same(a[k], b[k], f"{what}[{k!r}]")
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)
        assert np.asarray(a).dtype == np.asarray(b).dtype, what


def without_time(info):
    """Monitor's episode time is wall-clock seconds: not comparable; the rest of the info is."""
    return {k: ({**v, "t": None} if k == "episode" else v) for k, v in info.items() if k != "terminal_observation"}


def step_by_step(reference, adapter, steps=300):
    """Both VecEnvs seeded alike and driven by the same random actions; every output compared. The count of
    episodes that ended by a time limit and otherwise, to show both happened."""
    reference.seed(0)
    adapter.seed(0)
    assert_same(adapter.reset(), reference.reset(), "reset observation")
    assert adapter.reset_infos == reference.reset_infos
    rng, ends = np.random.default_rng(0), {"truncated": 0, "terminated": 0}
    for t in range(steps):
        actions = random_actions(reference.action_space, rng)
        ref, ours = reference.step(actions), adapter.step(actions)
        for what, a, b in zip(("observation", "reward", "done"), ours[:3], ref[:3], strict=True):
            assert_same(a, b, f"step {t}: {what}")
        for i, (got, want) in enumerate(zip(ours[3], ref[3], strict=True)):
            assert without_time(got) == without_time(want), f"step {t}, env {i}"
            if "terminal_observation" in want:
                assert_same(got["terminal_observation"], want["terminal_observation"], f"step {t}, env {i}: terminal")
                ends["truncated" if want["TimeLimit.truncated"] else "terminated"] += 1
        assert adapter.reset_infos == reference.reset_infos, f"step {t}"
    return ends


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("env_id", [e for e in ENVS if e != "ScratchCartPole-v0"])
def test_sync_vector_env_steps_as_sb3s_make_vec_env(env_id, mode):
    reference = make_vec_env(lambda: make_one(env_id), n_envs=N)
    adapter = VectorEnvAdapter(SyncVectorEnv([lambda: make_one(env_id)] * N, autoreset_mode=mode))
    ends = step_by_step(reference, adapter)
    assert ends["truncated"] > 0 and (ends["terminated"] > 0 or env_id == "Pendulum-v1"), ends  # Pendulum never falls


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP], ids=lambda m: m.name)
def test_scratch_cartpoles_vector_env_steps_as_sb3s_make_vec_env(mode):
    """gym.make_vec("ScratchCartPole-v0", vectorization_mode="vector_entry_point"): the native vectorized env, in
    Gymnasium's default mode (NEXT_STEP, reset one env alone through reset_mask) and in SAME_STEP."""
    reference = make_vec_env(lambda: make_one("ScratchCartPole-v0"), n_envs=N)
    vector_env = gym.make_vec(
        "ScratchCartPole-v0", num_envs=N, vectorization_mode="vector_entry_point", max_episode_steps=30, autoreset_mode=mode
    )
    ends = step_by_step(reference, VectorEnvAdapter(vector_env))
    assert ends["truncated"] > 0 and ends["terminated"] > 0, ends


def test_async_vector_env_steps_as_sb3s_make_vec_env():
    """Sub-envs in their own processes, reset one at a time through reset_mask as well."""
    reference = make_vec_env(lambda: make_one("CartPole-v1"), n_envs=N)
    adapter = VectorEnvAdapter(AsyncVectorEnv([lambda: make_one("CartPole-v1")] * N))
    try:
        step_by_step(reference, adapter, steps=120)
    finally:
        adapter.close()


def test_gymnasiums_cartpole_vector_env_resets_one_step_early_from_its_own_generator():
    """gym.make_vec("CartPole-v1") is Gymnasium's CartPoleVectorEnv: NEXT_STEP, and any reset resets every env. The
    adapter makes the reset its next step would have made (the same draw from its one generator) on the step the
    episode ends. With one env, the adapter's stream is the raw env's with its reset steps left out."""
    adapter = VectorEnvAdapter(gym.make_vec("CartPole-v1", num_envs=1))
    raw = gym.make_vec("CartPole-v1", num_envs=1)
    assert isinstance(raw, CartPoleVectorEnv) and raw.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    adapter.seed(3)
    obs = adapter.reset()
    raw_obs, _ = raw.reset(seed=3)
    assert_same(obs, raw_obs, "reset")
    rng, episodes = np.random.default_rng(0), 0
    for t in range(400):
        action = rng.integers(0, 2, size=1)
        obs, reward, done, infos = adapter.step(action)
        raw_obs, raw_reward, terminated, truncated, _ = raw.step(action)
        assert reward[0] == raw_reward[0] and done[0] == (terminated[0] or truncated[0]), f"step {t}"
        if done[0]:
            assert_same(infos[0]["terminal_observation"], raw_obs[0], f"step {t}: terminal")
            raw_obs, raw_reward, terminated, truncated, _ = raw.step(1 - action)  # the raw env's reset step
            assert raw_reward[0] == 0 and not terminated[0] and not truncated[0]  # it ignores the action
            episodes += 1
        assert_same(obs, raw_obs, f"step {t}")
    assert episodes >= 10


def test_ppo_trains_on_a_gymnasium_vector_env_as_on_the_equivalent_dummy_vec_env():
    """Same seed: the same weights after two iterations, and the same episode statistics, bit for bit."""
    models = []
    for env in (
        make_vec_env(lambda: make_one("CartPole-v1"), n_envs=N),
        SyncVectorEnv([lambda: make_one("CartPole-v1")] * N),
    ):
        models.append(ScratchPPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0).learn(2 * 64 * N))
    ref, ours = (m.policy.state_dict() for m in models)
    for key in ref:
        np.testing.assert_array_equal(ours[key].numpy(), ref[key].numpy(), err_msg=key)
    assert [(e["r"], e["l"]) for e in models[1].ep_info_buffer] == [(e["r"], e["l"]) for e in models[0].ep_info_buffer]
    assert len(models[0].ep_info_buffer) > 10


def test_gym_make_vec_as_it_comes_trains_and_evaluates():
    """The issue's line as it is: gym.make_vec("CartPole-v1", num_envs=8), Gymnasium's own vectorized CartPole."""
    model = ScratchPPO("MlpPolicy", gym.make_vec("CartPole-v1", num_envs=8), n_steps=64, seed=0).learn(2_048)
    assert isinstance(model.get_env(), VectorEnvAdapter) and model.get_env().env_is_wrapped(Monitor) == [True] * 8
    assert len(model.ep_info_buffer) > 10


class OwnVectorEnv(gym.vector.VectorEnv):
    """A VectorEnv of its own in NEXT_STEP mode, which cannot be told to reset one env alone."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self):
        self.num_envs = 2
        self.single_observation_space = gym.spaces.Box(-1, 1, (3,))
        self.single_action_space = gym.spaces.Discrete(2)


def test_what_cannot_be_adapted_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match=r"OwnVectorEnv resets in autoreset mode NEXT_STEP, and only Gymnasium's"):
        ScratchPPO("MlpPolicy", OwnVectorEnv())
    wrapped = gym.wrappers.vector.RecordEpisodeStatistics(gym.make_vec("CartPole-v1", num_envs=2))
    with pytest.raises(ValueError, match=r"CartPoleVectorEnv under vector wrappers cannot be reset one env at a time"):
        ScratchPPO("MlpPolicy", wrapped)


def test_wrappers_with_statistics_of_all_envs_are_refused_where_one_env_resets_alone():
    """NEXT_STEP: the adapter resets an env alone when its episode ends. NormalizeReward's reset clears every env's
    running return (shown here), so it would silently corrupt the others'; NormalizeObservation refuses partial resets
    only when the first one comes, mid-training. Both are refused up front. SAME_STEP needs no partial reset: there
    NormalizeReward trains (NormalizeObservation refuses that mode itself), as does RecordEpisodeStatistics (which
    handles reset_mask) in NEXT_STEP."""
    from gymnasium.vector import AutoresetMode
    from gymnasium.wrappers.vector import NormalizeObservation, NormalizeReward, RecordEpisodeStatistics

    normalized = NormalizeReward(gym.make_vec("Pendulum-v1", num_envs=2, vectorization_mode="sync"))
    normalized.reset(seed=0)
    normalized.step(normalized.action_space.sample())
    assert (normalized.accumulated_reward != 0).all()
    normalized.reset(options={"reset_mask": np.array([True, False])})
    assert (normalized.accumulated_reward == 0).all()  # env 1 was not reset, yet its running return is gone
    for wrapper in (NormalizeReward, NormalizeObservation):
        env = wrapper(gym.make_vec("Pendulum-v1", num_envs=2, vectorization_mode="sync"))
        with pytest.raises(ValueError, match=rf"{wrapper.__name__} keeps statistics of all envs together .*SAME_STEP"):
            ScratchPPO("MlpPolicy", env)
    same_step = {"autoreset_mode": AutoresetMode.SAME_STEP}
    env = NormalizeReward(gym.make_vec("Pendulum-v1", num_envs=2, vectorization_mode="sync", vector_kwargs=same_step))
    ScratchPPO("MlpPolicy", env, n_steps=128, batch_size=64, seed=0).learn(512)  # 2 episode ends of 200 steps each
    env = RecordEpisodeStatistics(gym.make_vec("Pendulum-v1", num_envs=2, vectorization_mode="sync"))
    ScratchPPO("MlpPolicy", env, n_steps=128, batch_size=64, seed=0).learn(512)


def test_negative_control_an_env_reset_a_step_late_is_caught(monkeypatch):
    """The comparison has teeth: an adapter that leaves NEXT_STEP's late reset as it is (returns the last
    observation on the step an episode ends, as Gymnasium does) fails it."""
    monkeypatch.setattr(VectorEnvAdapter, "_reset_now", lambda self, obs, dones: obs)
    reference = make_vec_env(lambda: make_one("CartPole-v1"), n_envs=N)
    adapter = VectorEnvAdapter(SyncVectorEnv([lambda: make_one("CartPole-v1")] * N))
    with pytest.raises(AssertionError, match="observation"):
        step_by_step(reference, adapter)


class Counter(gym.Wrapper):
    """A sub-env with an attribute and a method of its own."""

    def __init__(self, env, start):
        super().__init__(env)
        self.count = start

    def bump(self, by=1):
        self.count += by
        return self.count


def test_attributes_and_methods_reach_each_sub_env_as_in_a_dummy_vec_env():
    """get_attr, set_attr, env_method (what callbacks and sb3-contrib's action masks use) and env_is_wrapped, with
    and without indices: the same answers as SB3's DummyVecEnv of the same envs."""
    fns = [lambda s=s: Counter(make_one("CartPole-v1"), s) for s in range(N)]
    reference = DummyVecEnv(fns)
    sync = VectorEnvAdapter(SyncVectorEnv(fns))
    async_ = VectorEnvAdapter(AsyncVectorEnv(fns))
    try:
        for env in (reference, sync, async_):
            env.reset()
        for env in (sync, async_):
            assert env.get_attr("count") == reference.get_attr("count") == [0, 1, 2, 3]
            assert env.get_attr("count", [1, 3]) == [1, 3]
        for env in (reference, sync, async_):
            env.set_attr("count", 10, indices=[2])
            env.env_method("bump", by=5)
        assert sync.get_attr("count") == async_.get_attr("count") == reference.get_attr("count") == [5, 6, 15, 8]
        assert sync.env_method("bump", indices=[0]) == reference.env_method("bump", indices=[0]) == [6]
        with pytest.raises(NotImplementedError, match="an AsyncVectorEnv calls a method on all its envs at once"):
            async_.env_method("bump", indices=[0])
        for wrapper in (Counter, gym.wrappers.TimeLimit, gym.wrappers.ClipAction):
            assert sync.env_is_wrapped(wrapper) == reference.env_is_wrapped(wrapper)
        assert sync.env_is_wrapped(Monitor) == [True] * N  # the adapter gives Monitor's statistics itself
    finally:
        async_.close()
