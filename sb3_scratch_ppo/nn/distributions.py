"""Action distributions: sample, mode, log-probability, entropy, and their gradients, in NumPy.

One class per action space, as SB3's (``make_proba_distribution``):

| action space  | distribution       | action_net output          | extra parameter     |
|---------------|--------------------|----------------------------|---------------------|
| Discrete      | Categorical        | n logits                   |                     |
| Box           | DiagGaussian       | mean, one per action dim   | log_std (state-independent) |
| MultiDiscrete | MultiCategorical   | sum(nvec) logits           |                     |
| MultiBinary   | Bernoulli          | n logits                   |                     |

Every distribution offers (``latent``, the policy's latent_pi, is read by gSDE only: ``gsde.py``):

- ``sample(out, log_std, rng, latent)`` and ``mode(out, log_std, latent)``: actions for a batch;
- ``sample_log_prob(out, log_std, rng, latent)``: sampled actions and their log pi(a|s) (the rollout step);
- ``log_prob_entropy(out, log_std, actions, latent)``: per-sample log pi(a|s) and entropy H, both summed
  over action dimensions, plus a context for
- ``backprop(ctx, g_log_prob, g_entropy)``: given dLoss/dlog_prob and dLoss/dentropy (arrays of shape
  (B,); g_entropy None when the loss has no entropy term, ent_coef = 0), returns dLoss/dout
  (B, out_dim) and dLoss/dlog_std (or None).

The gradients are derived by hand in each docstring and checked against torch autograd in
``tests/test_gradients.py``.
"""

from __future__ import annotations

import abc
import functools
import math
from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_scratch_ppo.nn.layers import sigmoid

LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


@functools.lru_cache(maxsize=8)
def _arange(n: int) -> np.ndarray:
    """0, 1, ..., n - 1, made once per batch size (read-only): the column indices for picking log pi(a) per column."""
    cols = np.arange(n)
    cols.flags.writeable = False
    return cols


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over axis 0 of z (n, B): one categorical per column.

    Distributions work on logits transposed to (n, B): reductions over a short last axis are
    much slower in NumPy than over the first, and they are most of a small batch's cost.
    """
    shifted = z - np.maximum.reduce(z, axis=0)
    shifted -= np.log(np.add.reduce(np.exp(shifted), axis=0))
    return shifted


def _sample_categorical(log_p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One sample per column of log_p (n, B), by the Gumbel-max trick: argmax_i (log p_i + G_i), G_i ~ Gumbel(0, 1)."""
    noisy = log_p + rng.gumbel(size=log_p.shape)
    return noisy.argmax(axis=0)


# --8<-- [start:categorical]
def _categorical_log_prob_entropy(z: np.ndarray, actions: np.ndarray):
    """log pi(a) and H of the categoricals with logits z (n, B) and actions (B,); the context for backprop."""
    log_p = _log_softmax(z)
    cols = _arange(len(actions))
    p = np.exp(log_p)
    entropy = -np.add.reduce(p * log_p, axis=0)
    return log_p[actions, cols], entropy, (log_p, p, entropy, actions, cols)


def _categorical_backprop(ctx, g_log_prob: np.ndarray, g_entropy: np.ndarray | None) -> np.ndarray:
    """Gradient (n, B) w.r.t. the logits z of one categorical per column, p = softmax(z).

    log_prob = z_a - logsumexp(z)  =>  d log_prob / dz_j = [j == a] - p_j
    H = -sum_i p_i log p_i          =>  dH / dz_j = -p_j (log p_j + H)
    """
    log_p, p, entropy, actions, cols = ctx
    g = p * -g_log_prob if g_entropy is None else p * (-g_log_prob - g_entropy * (log_p + entropy))
    g[actions, cols] += g_log_prob
    return g


# --8<-- [end:categorical]


class Distribution(abc.ABC):
    """The interface every distribution offers (the module docstring says what each method returns), and the rollout
    step's sample and log-probability, shared."""

    out_dim: int  # the width of action_net's output
    action_dtype: Any  # the dtype of the actions it samples

    @abc.abstractmethod
    def sample(self, out: np.ndarray, log_std: np.ndarray | None, rng: np.random.Generator, latent: Any = None) -> Any:
        """A sampled action per row."""

    @abc.abstractmethod
    def mode(self, out: np.ndarray, log_std: np.ndarray | None, latent: Any = None) -> Any:
        """The most likely action per row."""

    @abc.abstractmethod
    def log_prob_entropy(self, out: np.ndarray, log_std: np.ndarray | None, actions: np.ndarray, latent: Any = None) -> Any:
        """log pi(a|s) and H per row, and the context ``backprop`` reads."""

    @abc.abstractmethod
    def backprop(self, ctx: Any, g_log_prob: np.ndarray, g_entropy: np.ndarray | None) -> Any:
        """dLoss/dout (B, out_dim) and dLoss/dlog_std (or None)."""

    def log_std_shape(self, latent_dim: int) -> tuple[int, ...] | None:
        """The shape of the policy's ``log_std`` parameter, or None: none (only Gaussians have one)."""
        return None

    def sample_log_prob(self, out, log_std, rng, latent=None):
        """A sampled action per row and its log-probability (the rollout step: no entropy needed)."""
        actions = self.sample(out, log_std, rng, latent)
        return actions, self.log_prob_entropy(out, log_std, actions, latent)[0]


class Categorical(Distribution):
    """Discrete(n): one categorical over n actions, from logits."""

    def __init__(self, n: int):
        self.out_dim = n
        self.action_dtype = np.int64

    def sample(self, out, log_std, rng, latent=None):
        return _sample_categorical(_log_softmax(out.T), rng)

    def mode(self, out, log_std, latent=None):
        return out.argmax(axis=-1)

    def sample_log_prob(self, out, log_std, rng, latent=None):
        log_p = _log_softmax(out.T)
        actions = _sample_categorical(log_p, rng)
        return actions, log_p[actions, _arange(len(actions))]

    def log_prob_entropy(self, out, log_std, actions, latent=None):
        actions = actions.reshape(-1).astype(np.int64, copy=False)
        return _categorical_log_prob_entropy(np.ascontiguousarray(out.T), actions)

    def backprop(self, ctx, g_log_prob, g_entropy):
        return _categorical_backprop(ctx, g_log_prob, g_entropy).T, None


class MultiCategorical(Distribution):
    """MultiDiscrete(nvec): independent categoricals, log-probs and entropies summed."""

    def __init__(self, nvec: np.ndarray):
        self.nvec = [int(n) for n in np.ravel(nvec)]
        self.splits = np.cumsum(self.nvec)[:-1]
        self.out_dim = int(sum(self.nvec))
        self.action_dtype = np.int64

    def sample(self, out, log_std, rng, latent=None):
        return np.stack([_sample_categorical(_log_softmax(z), rng) for z in np.split(out.T, self.splits)], axis=1)

    def mode(self, out, log_std, latent=None):
        return np.stack([z.argmax(axis=-1) for z in np.split(out, self.splits, axis=-1)], axis=1)

    def log_prob_entropy(self, out, log_std, actions, latent=None):
        actions = actions.reshape(len(out), -1).astype(np.int64)
        parts = [
            _categorical_log_prob_entropy(z, actions[:, i])
            for i, z in enumerate(np.split(np.ascontiguousarray(out.T), self.splits))
        ]
        log_prob = sum(part[0] for part in parts)
        entropy = sum(part[1] for part in parts)
        return log_prob, entropy, [part[2] for part in parts]

    def backprop(self, ctx, g_log_prob, g_entropy):
        return np.concatenate([_categorical_backprop(c, g_log_prob, g_entropy) for c in ctx]).T, None


class Bernoulli(Distribution):
    """MultiBinary(n): independent Bernoullis from logits z, p = sigmoid(z)."""

    def __init__(self, n: int):
        self.out_dim = n
        self.action_dtype = np.float32  # SB3 returns float 0./1. actions here

    def sample(self, out, log_std, rng, latent=None):
        p = sigmoid(out)
        return (rng.random(out.shape) < p).astype(np.float32)

    def mode(self, out, log_std, latent=None):
        return (out > 0).astype(np.float32)  # round(p), with round(0.5) = 0 as torch.round

    def log_prob_entropy(self, out, log_std, actions, latent=None):
        """log_prob = a z - softplus(z);  H = softplus(z) - z p  (each summed over the n dims)."""
        actions = actions.reshape(out.shape).astype(out.dtype)
        softplus = np.logaddexp(0.0, out)
        p = sigmoid(out)
        log_prob = (actions * out - softplus).sum(axis=-1)
        entropy = (softplus - out * p).sum(axis=-1)
        return log_prob, entropy, (out, p, actions)

    def backprop(self, ctx, g_log_prob, g_entropy):
        """d log_prob / dz = a - p;   dH / dz = -z p (1 - p)."""
        z, p, actions = ctx
        g = g_log_prob[:, None] * (actions - p)
        return g if g_entropy is None else g - g_entropy[:, None] * z * p * (1.0 - p), None


class DiagGaussian(Distribution):
    """Box(k): a diagonal Gaussian with mean from the network and a state-independent log_std parameter.

    Per dimension, with sigma = exp(log_std):
        log_prob = -(a - mu)^2 / (2 sigma^2) - log_std - log(sqrt(2 pi))
        H        = 0.5 + log(sqrt(2 pi)) + log_std
    both summed over the k dimensions.
    """

    def __init__(self, k: int):
        self.out_dim = k
        self.action_dtype = np.float32

    def log_std_shape(self, latent_dim: int) -> tuple[int, ...]:
        return (self.out_dim,)

    def sample(self, out, log_std, rng, latent=None):
        return out + np.exp(log_std) * rng.standard_normal(out.shape, dtype=out.dtype)

    def mode(self, out, log_std, latent=None):
        return out

    # --8<-- [start:diag_gaussian]
    def log_prob_entropy(self, out, log_std, actions, latent=None):
        actions = actions.reshape(out.shape)
        inv_var = np.exp(-2.0 * log_std)
        diff = actions - out
        log_prob = (-(diff * diff) * (0.5 * inv_var) - log_std - LOG_SQRT_2PI).sum(axis=-1)
        entropy = np.broadcast_to((0.5 + LOG_SQRT_2PI + log_std).sum(), (len(out),))
        return log_prob, entropy, (diff, inv_var)

    def backprop(self, ctx, g_log_prob, g_entropy):
        """d log_prob / d mu = (a - mu) / sigma^2;  d log_prob / d log_std = (a - mu)^2 / sigma^2 - 1;  dH / d log_std = 1."""
        diff, inv_var = ctx
        scaled = diff * inv_var
        g_mean = g_log_prob[:, None] * scaled
        g_log_std = (g_log_prob[:, None] * (diff * scaled - 1.0)).sum(axis=0)
        if g_entropy is not None:
            g_log_std += g_entropy.sum()
        return g_mean, g_log_std

    # --8<-- [end:diag_gaussian]


def make_distribution(action_space: spaces.Space):
    """The distribution SB3 uses for ``action_space`` (without gSDE)."""
    if isinstance(action_space, spaces.Discrete):
        return Categorical(int(action_space.n))
    if isinstance(action_space, spaces.Box):
        return DiagGaussian(int(np.prod(action_space.shape)))
    if isinstance(action_space, spaces.MultiDiscrete):
        return MultiCategorical(action_space.nvec)
    if isinstance(action_space, spaces.MultiBinary):
        return Bernoulli(int(np.prod(action_space.shape)))
    raise NotImplementedError(
        f"action space {action_space} is not supported; supported: Box, Discrete, MultiDiscrete, MultiBinary"
    )
