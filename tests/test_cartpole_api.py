"""ScratchCartPole-v0's Gymnasium API: registration, bad input, check_env, rendering."""

import re
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import scratch_envs
from scratch_envs import rendering


@pytest.mark.parametrize(
    "code",
    [
        "import gymnasium as gym; env = gym.make('scratch_envs:ScratchCartPole-v0')",
        "import gymnasium as gym, scratch_envs; env = gym.make('ScratchCartPole-v0')",
        "import gymnasium as gym, sb3_scratch_ppo; env = gym.make('ScratchCartPole-v0')",
    ],
)
def test_registration_in_a_fresh_process(code):
    check = (
        "; s = env.spec; assert (s.max_episode_steps, s.reward_threshold) == (500, 475.0), s"
        "; assert type(env.unwrapped).__name__ == 'ScratchCartPoleEnv'"
        "; print(env.reset(seed=0)[0].shape)"
    )
    out = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(4,)"


def test_import_is_idempotent():
    import importlib

    importlib.reload(scratch_envs)
    assert gym.spec("ScratchCartPole-v0").max_episode_steps == 500


def test_truncates_at_500_steps():
    env = gym.make("ScratchCartPole-v0")
    env.reset(seed=0)
    obs = np.zeros(4, dtype=np.float32)
    env.unwrapped.state[:] = 0.0
    for t in range(1, 501):
        obs, _, terminated, truncated, _ = env.step(int(obs @ [0.05, 0.3, 5.0, 1.0] > 0))
        assert not terminated
        assert truncated == (t == 500)


def _check_env_warnings(env) -> set[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)  # raises on failures, warns on doubts
    # ResourceWarnings come from the garbage collector (other tests' objects), not from check_env.
    return {str(w.message) for w in caught if not issubclass(w.category, ResourceWarning)}


def test_check_env_passes_with_no_more_warnings_than_cartpole_v1():
    # CartPole-v1's infinite velocity bounds draw a warning; ours has the same bounds, and nothing else.
    from gymnasium.envs.classic_control import CartPoleEnv

    assert _check_env_warnings(scratch_envs.ScratchCartPoleEnv()) == _check_env_warnings(CartPoleEnv())
    made = _check_env_warnings(gym.make("ScratchCartPole-v0").unwrapped)
    assert made == _check_env_warnings(gym.make("CartPole-v1").unwrapped)
    assert made and all("infinity" in w for w in made)  # only the velocity bounds


@pytest.mark.parametrize("action", [2, -1, np.int64(3)])
def test_out_of_range_action_raises_value_error_naming_it(action):
    env = gym.make("ScratchCartPole-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"action {re.escape(repr(action))}.*out of range.*0 \(push left\) or 1"):
        env.step(action)


@pytest.mark.parametrize("action", [0.5, 1.0, np.float32(1.0), "1", None, np.array([1]), [1]])
def test_non_integer_action_raises_type_error_naming_it(action):
    env = gym.make("ScratchCartPole-v0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"is not an integer.*never rounded or cast") as err:
        env.step(action)
    assert repr(action) in str(err.value)


@pytest.mark.parametrize("action", [0, 1, np.int64(1), np.int8(0), np.array(1), True])
def test_integer_actions_that_cartpole_v1_accepts_are_accepted(action):
    ours, ref = gym.make("ScratchCartPole-v0"), gym.make("CartPole-v1")
    ours.reset(seed=1)
    ref.reset(seed=1)
    np.testing.assert_array_equal(ours.step(action)[0], ref.step(action)[0])


def test_step_before_reset_raises():
    with pytest.raises(gym.error.ResetNeeded):
        scratch_envs.ScratchCartPoleEnv().step(0)


@pytest.mark.parametrize(
    "actions, error, pattern",
    [
        (np.array([0, 1, 2, 0]), ValueError, r"actions \[2\] at env indices \[2\] are out of range"),
        (np.array([0, -1, 1, 5]), ValueError, r"actions \[-1, 5\] at env indices \[1, 3\]"),
        (np.array([0.0, 1.0, 1.0, 0.0]), TypeError, r"dtype float64; expected integers"),
        (np.array([0, 1, 1]), ValueError, r"shape \(3,\); expected shape \(4,\)"),
        (1, ValueError, r"shape \(\); expected shape \(4,\)"),
    ],
)
def test_vector_env_invalid_actions(actions, error, pattern):
    env = gym.make_vec("ScratchCartPole-v0", num_envs=4, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    with pytest.raises(error, match=pattern):
        env.step(actions)


def test_unknown_render_mode_is_rejected():
    with pytest.raises(ValueError, match="render_mode='ansi'"):
        scratch_envs.ScratchCartPoleEnv(render_mode="ansi")


def _gymnasium_frame(state):
    ref = gym.make("CartPole-v1", render_mode="rgb_array")
    ref.reset(seed=0)
    ref.unwrapped.state = np.array(state, dtype=np.float64)
    return ref.render()


@pytest.mark.parametrize("state", [(0.0, 0, 0.0, 0), (1.2, 0, 0.15, 0), (-2.0, 0, -0.2, 0), (0.3, 0, 0.0, 0)])
def test_rgb_array_draws_the_same_scene_as_cartpole_v1(state):
    env = gym.make("ScratchCartPole-v0", render_mode="rgb_array")
    env.reset(seed=0)
    env.unwrapped.state = np.array(state, dtype=np.float64)
    ours, ref = env.render(), _gymnasium_frame(state)
    assert ours.shape == ref.shape == (400, 600, 3) and ours.dtype == np.uint8
    for colour in (rendering.BLACK, rendering.POLE_COLOUR):
        mask_o = np.all(ours == colour, axis=-1)
        mask_r = np.all(ref == colour, axis=-1)
        iou = (mask_o & mask_r).sum() / (mask_o | mask_r).sum()
        assert iou > 0.85, (colour, iou)


def test_rgb_array_follows_the_state():
    env = gym.make("ScratchCartPole-v0", render_mode="rgb_array")
    env.reset(seed=0)
    centres = {}
    for x, theta in [(-1.0, 0.2), (1.0, -0.2)]:
        env.unwrapped.state = np.array([x, 0.0, theta, 0.0])
        frame = env.render()
        # Rows 300-313 hold the cart's lower half: below the track line (row 299) and the pole.
        cart_cols = np.nonzero(np.all(frame[300:314] == rendering.BLACK, axis=-1))[1]
        pole_rows, pole_cols = np.nonzero(np.all(frame == rendering.POLE_COLOUR, axis=-1))
        top = pole_rows < pole_rows.min() + 10  # the pole's far end
        centres[x] = (cart_cols.mean(), pole_cols[top].mean() - cart_cols.mean())
    assert centres[-1.0][0] < 300 < centres[1.0][0]  # the cart moves with x
    assert centres[-1.0][1] > 0 > centres[1.0][1]  # positive theta leans right


def test_vector_env_renders_one_frame_per_env():
    env = gym.make_vec("ScratchCartPole-v0", num_envs=3, vectorization_mode="vector_entry_point", render_mode="rgb_array")
    env.reset(seed=0)
    frames = env.render()
    assert len(frames) == 3 and all(f.shape == (400, 600, 3) for f in frames)


def test_human_mode_opens_a_window(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = gym.make("ScratchCartPole-v0", render_mode="human")
    env.reset(seed=0)
    env.step(1)
    import pygame  # in the test extra

    assert pygame.display.get_surface().get_size() == (600, 400)
    env.close()


def test_human_mode_without_pygame_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygame", None)  # makes `import pygame` fail
    with pytest.raises(gym.error.DependencyNotInstalled, match=r"sb3-scratch-ppo\[human\]"):
        gym.make("ScratchCartPole-v0", render_mode="human")


@pytest.mark.parametrize("seed", [0, 7])
def test_gymnasiums_check_environments_match_against_cartpole_v1(seed):
    """Gymnasium's own checker (gymnasium.utils.env_match): the same observations, rewards, terminations,
    truncations and infos as CartPole-v1 for the same seed and random actions (it steps on past termination)."""
    from gymnasium.utils.env_match import check_environments_match

    check_environments_match(
        gym.make("ScratchCartPole-v0"), gym.make("CartPole-v1"), num_steps=2_000, seed=seed, skip_render=True
    )


def test_check_environments_match_catches_a_different_env():
    """The negative control: the checker tells ScratchCartPole-v0 apart from CartPole-v1 with gravity 9.8 -> 9.81."""
    from gymnasium.utils.env_match import check_environments_match

    other = gym.make("CartPole-v1")
    other.unwrapped.gravity = 9.81
    with pytest.raises(AssertionError):
        check_environments_match(gym.make("ScratchCartPole-v0"), other, num_steps=200, seed=0, skip_render=True)
