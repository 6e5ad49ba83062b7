"""ScratchCartPole: the cart-pole balancing task, written from its equations of motion.

A pole is hinged to a cart that moves along a frictionless track. Each step the agent
pushes the cart left (action 0) or right (action 1) with a fixed force; the episode
ends when the pole tilts more than 12 degrees or the cart leaves the track (|x| > 2.4 m).
A reward of +1 is given for every step, including the one that ends the episode.

The dynamics are the frictionless case of R. V. Florian, "Correct equations for the
dynamics of the cart-pole system" (2007), eqs. 23-24, integrated with explicit Euler
steps of ``tau`` seconds. With g = gravity, m_c / m_p the cart / pole masses,
M = m_c + m_p, l = half the pole length and F the applied force:

    temp          = (F + m_p * l * theta_dot^2 * sin(theta)) / M
    theta_acc     = (g * sin(theta) - cos(theta) * temp) / (l * (4/3 - m_p * cos(theta)^2 / M))
    x_acc         = temp - m_p * l * theta_acc * cos(theta) / M

Behaviour matches Gymnasium's CartPole-v1 step for step (same seeds, same actions, same
observations, rewards and flags), which ``tests/test_cartpole_parity.py`` checks.

``ScratchCartPoleEnv`` is one environment, the ``gymnasium.make`` entry point; ``cartpole_vector.py`` steps N of
them with one set of array operations (``ScratchCartPoleVectorEnv``), from the same equations (``euler_step``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.utils import maybe_parse_reset_bounds

from scratch_envs import rendering

# Physical constants (SI units).
GRAVITY = 9.8
CART_MASS = 1.0
POLE_MASS = 0.1
TOTAL_MASS = CART_MASS + POLE_MASS
HALF_POLE_LENGTH = 0.5
POLE_MASS_LENGTH = POLE_MASS * HALF_POLE_LENGTH
FORCE = 10.0
TAU = 0.02  # seconds per step

_FORCES = np.array([-FORCE, FORCE])  # by action: 0 pushes left, 1 right

# Failure thresholds.
THETA_LIMIT = 12 * 2 * math.pi / 360  # 12 degrees, in radians
X_LIMIT = 2.4

# Initial state: each of the 4 state variables uniform in [RESET_LOW, RESET_HIGH).
RESET_LOW, RESET_HIGH = -0.05, 0.05

# Observation bounds: twice the failure thresholds, so a failing state is still inside.
_OBS_HIGH = np.array([X_LIMIT * 2, np.inf, THETA_LIMIT * 2, np.inf], dtype=np.float32)


def euler_step(x, x_dot, theta, theta_dot, force, cos=np.cos, sin=np.sin):
    """Advance (x, x_dot, theta, theta_dot) by one Euler step of TAU seconds; returns the new 4-tuple.

    Works on Python floats (pass ``math.cos``, ``math.sin``: one cart, fast) or on arrays
    of N carts (NumPy's cos and sin). Products are grouped as in Gymnasium's CartPole, so
    results agree to the last bit.
    """
    cos_t, sin_t = cos(theta), sin(theta)
    temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sin_t) / TOTAL_MASS
    theta_acc = (GRAVITY * sin_t - cos_t * temp) / (HALF_POLE_LENGTH * (4.0 / 3.0 - POLE_MASS * (cos_t * cos_t) / TOTAL_MASS))
    x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos_t / TOTAL_MASS
    # Explicit Euler: positions move with the old velocities.
    return x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc


def has_fallen(x, theta):
    """True where the cart left the track or the pole tilted past THETA_LIMIT (floats or arrays)."""
    return (abs(x) > X_LIMIT) | (abs(theta) > THETA_LIMIT)


def _describe(action: Any) -> str:
    return f"{action!r} ({type(action).__name__})"


class ScratchCartPoleEnv(gym.Env[np.ndarray, int]):
    """One cart-pole. Observation: float32 [x, x_dot, theta, theta_dot]. Actions: 0 left, 1 right.

    Args:
        sutton_barto_reward: reward 0 per surviving step and -1 on failure (as in the
            original Barto, Sutton & Anderson formulation) instead of +1 per step.
        render_mode: None, "rgb_array" (an HxWx3 uint8 picture, no extra install) or
            "human" (a window; needs the ``human`` extra, i.e. pygame).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": 50}

    def __init__(self, sutton_barto_reward: bool = False, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; expected None or one of {self.metadata['render_modes']}"
            )
        self._sutton_barto_reward = sutton_barto_reward
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(-_OBS_HIGH, _OBS_HIGH, dtype=np.float32)
        self.state: np.ndarray | None = None
        # None while the pole is up; counts the steps taken after the episode ended.
        self.steps_beyond_terminated: int | None = None
        self._window = rendering.Window(self.metadata["render_fps"]) if render_mode == "human" else None

    def _force(self, action: Any) -> float:
        """The force for ``action``; raises for anything that is not 0 or 1."""
        if action.__class__ is int or self.action_space.contains(action):
            if action == 1:
                return FORCE
            if action == 0:
                return -FORCE
        expected = f"expected 0 (push left) or 1 (push right), the actions of {self.action_space}"
        if isinstance(action, (int, np.integer)) or (
            isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer)
        ):
            raise ValueError(f"ScratchCartPole: action {_describe(action)} is out of range; {expected}.")
        raise TypeError(
            f"ScratchCartPole: action {_describe(action)} is not an integer; {expected}. Actions are never rounded or cast."
        )

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        force = self._force(action)
        if self.state is None:
            raise gym.error.ResetNeeded("ScratchCartPole: call reset() before step().")
        x, x_dot, theta, theta_dot = euler_step(*self.state.tolist(), force, math.cos, math.sin)
        self.state = np.array((x, x_dot, theta, theta_dot))
        terminated = has_fallen(x, theta)

        if not terminated:
            reward = 0.0 if self._sutton_barto_reward else 1.0
        elif self.steps_beyond_terminated is None:  # the step on which the pole fell
            self.steps_beyond_terminated = 0
            reward = -1.0 if self._sutton_barto_reward else 1.0
        else:  # stepping on after the episode ended: no more reward
            if self.steps_beyond_terminated == 0:
                gym.logger.warn(
                    "You are calling 'step()' even though this environment has already returned "
                    "terminated = True. You should always call 'reset()' once you receive "
                    "'terminated = True' -- any further steps are undefined behavior."
                )
            self.steps_beyond_terminated += 1
            reward = -1.0 if self._sutton_barto_reward else 0.0

        if self.render_mode == "human":
            self.render()
        # Truncation at 500 steps comes from the TimeLimit wrapper that gymnasium.make adds.
        return self.state.astype(np.float32), reward, terminated, False, {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        low, high = maybe_parse_reset_bounds(options, RESET_LOW, RESET_HIGH)
        self.state = self.np_random.uniform(low=low, high=high, size=(4,))
        self.steps_beyond_terminated = None
        if self.render_mode == "human":
            self.render()
        return self.state.astype(np.float32), {}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn(
                "You are calling render method without specifying any render mode. "
                'Pass render_mode="rgb_array" or "human", e.g. gymnasium.make("ScratchCartPole-v0", '
                'render_mode="rgb_array").'
            )
            return None
        if self.state is None:
            return None
        frame = rendering.draw_cartpole(self.state[0], self.state[2])
        if self.render_mode == "human":
            self._window.show(frame)
            return None
        return frame

    def close(self) -> None:
        if self._window is not None:
            self._window.close()


def __getattr__(name: str) -> Any:
    # ScratchCartPoleVectorEnv lived here until it got its own module: "scratch_envs.cartpole:ScratchCartPoleVectorEnv"
    # (an entry point string others may have written down) still finds it. Imported on use: that module imports this.
    if name == "ScratchCartPoleVectorEnv":
        from scratch_envs.cartpole_vector import ScratchCartPoleVectorEnv

        return ScratchCartPoleVectorEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
