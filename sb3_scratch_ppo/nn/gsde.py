"""generalized State-Dependent Exploration (gSDE; Raffin et al. 2022, https://arxiv.org/abs/2005.05719): SB3's
``StateDependentNoiseDistribution`` in NumPy, with its gradient by hand.

The exploration noise is a linear function of the policy's latent features z (latent_pi, shape (B, L)), through a
random matrix M (L, A) whose entries are N(0, S^2), S = get_std(log_std) (L, A):

    action  = mu + z M                          (then tanh(.) with squash_output)
    sigma^2 = (z * z) @ (S * S) + epsilon       the per-sample, per-dimension variance of that noise
    log pi(a|s) = sum_a [-(u - mu)^2 / (2 sigma^2) - log sigma - log sqrt(2 pi)]
                  (u = atanh(a) and minus sum_a log(1 - tanh(u)^2 + epsilon) with squash_output, else u = a)
    H        = sum_a [0.5 + log sqrt(2 pi) + log sigma]   (none with squash_output: SB3 then uses -log pi)

z is detached: no gradient reaches the latent through sigma or the noise, only through mu. M is drawn by
``sample_weights`` (at construction, at each rollout start, every ``sde_sample_freq`` steps), never in training;
drawing an action uses no randomness. The noise comes from the policy's NumPy generator: the same distribution as
SB3's draws from torch's global generator, not the same numbers.
"""

from __future__ import annotations

import numpy as np

from sb3_scratch_ppo.nn.distributions import LOG_SQRT_2PI, Distribution


class StateDependentNoise(Distribution):
    """gSDE for Box(A) actions, as SB3's StateDependentNoiseDistribution with learn_features=False.

    :param action_dim: A
    :param full_std: log_std is (L, A); else (L, 1), shared by the action dimensions
    :param use_expln: std = expln(log_std) (exp below 0, log1p(x) + 1 above) instead of exp(log_std)
    :param squash_output: actions are tanh(mu + noise), in [-1, 1]
    :param epsilon: added to the variance and inside the squash correction's log
    """

    def __init__(
        self,
        action_dim: int,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        epsilon: float = 1e-6,
    ):
        self.out_dim = action_dim
        self.action_dtype = np.float32
        self.full_std, self.use_expln, self.squash_output, self.epsilon = full_std, use_expln, squash_output, epsilon
        self.exploration_mat: np.ndarray | None = None  # (L, A), set by sample_weights
        self.exploration_matrices: np.ndarray | None = None  # (n, L, A): one per env

    def log_std_shape(self, latent_dim: int) -> tuple[int, int]:
        return (latent_dim, self.out_dim) if self.full_std else (latent_dim, 1)

    def get_std(self, log_std: np.ndarray) -> np.ndarray:
        """S (L, A): exp(log_std), or expln(log_std) = exp(x) for x <= 0, log1p(x + epsilon) + 1 for x > 0."""
        if self.use_expln:
            positive = log_std > 0
            std = np.where(positive, np.log1p(log_std * positive + self.epsilon) + 1.0, np.exp(log_std * ~positive))
        else:
            std = np.exp(log_std)
        return std if self.full_std else np.broadcast_to(std, (len(std), self.out_dim))

    def sample_weights(self, log_std: np.ndarray, batch_size: int, rng: np.random.Generator) -> None:
        """Draw the exploration matrices: one shared (L, A), then one per env (batch_size, L, A), in SB3's order."""
        std = self.get_std(log_std)
        self.exploration_mat = rng.standard_normal(std.shape).astype(std.dtype) * std
        self.exploration_matrices = rng.standard_normal((batch_size, *std.shape)).astype(std.dtype) * std

    def noise(self, latent: np.ndarray) -> np.ndarray:
        """z M: per env (row i with matrix i) when the batch has one row per matrix, else the shared matrix for all."""
        if len(latent) == 1 or len(latent) != len(self.exploration_matrices):
            return latent @ self.exploration_mat
        return np.einsum("bl,bla->ba", latent, self.exploration_matrices)

    def sample(self, out: np.ndarray, log_std: np.ndarray, rng: np.random.Generator, latent: np.ndarray) -> np.ndarray:
        """mu + z M (tanh'd with squash_output); no randomness here: M was drawn by sample_weights. The rollout's
        log-probability is then computed from this action as returned (Distribution.sample_log_prob), as SB3."""
        actions = out + self.noise(latent)
        return np.tanh(actions) if self.squash_output else actions

    def mode(self, out: np.ndarray, log_std: np.ndarray, latent: np.ndarray | None = None) -> np.ndarray:
        return np.tanh(out) if self.squash_output else out

    def log_prob_entropy(self, out: np.ndarray, log_std: np.ndarray, actions: np.ndarray, latent: np.ndarray):
        """log pi(a|s) and H per sample (H = -log pi with squash_output, as SB3's PPO); the context for backprop."""
        actions = actions.reshape(out.shape)
        std = self.get_std(log_std)
        z2 = latent * latent
        sigma = np.sqrt(z2 @ (std * std) + self.epsilon)
        if self.squash_output:
            eps = np.finfo(actions.dtype).eps
            clipped = np.clip(actions, -1.0 + eps, 1.0 - eps)
            u = 0.5 * (np.log1p(clipped) - np.log1p(-clipped))  # atanh, as torch computes it in SB3's TanhBijector
        else:
            u = actions
        diff = u - out
        log_prob = (-(diff * diff) / (2 * sigma * sigma) - np.log(sigma) - LOG_SQRT_2PI).sum(axis=-1)
        if self.squash_output:
            log_prob -= np.log(1.0 - np.tanh(u) ** 2 + self.epsilon).sum(axis=-1)
            entropy = -log_prob
        else:
            entropy = (0.5 + LOG_SQRT_2PI + np.log(sigma)).sum(axis=-1)
        return log_prob, entropy, (diff, sigma, z2, std, log_std)

    def backprop(self, ctx, g_log_prob: np.ndarray, g_entropy: np.ndarray | None):
        """dLoss/dmu (B, A) and dLoss/dlog_std (log_std's shape).

            d log_prob / d mu    = (u - mu) / sigma^2
            d log_prob / d sigma = (u - mu)^2 / sigma^3 - 1 / sigma;   dH / d sigma = 1 / sigma
            sigma = sqrt(V + eps), V = (z * z) @ (S * S):  dV/dS = 2 S * ((z * z)^T @ .)
            dS / dlog_std = S (exp), or exp(x) / (1 + x + eps) below / above 0 (expln); summed over A without full_std
        With squash_output, H = -log_prob: its gradient joins log_prob's.
        """
        diff, sigma, z2, std, log_std = ctx
        if self.squash_output and g_entropy is not None:
            g_log_prob, g_entropy = g_log_prob - g_entropy, None
        inv_sigma = 1.0 / sigma
        scaled = diff * inv_sigma * inv_sigma
        g_lp = g_log_prob[:, None]
        g_mean = g_lp * scaled
        g_sigma = g_lp * (diff * scaled - 1.0) * inv_sigma
        if g_entropy is not None:
            g_sigma += g_entropy[:, None] * inv_sigma
        g_std = 2.0 * std * (z2.T @ (g_sigma * 0.5 * inv_sigma))
        if not self.full_std:
            g_std = g_std.sum(axis=1, keepdims=True)
        if self.use_expln:
            positive = log_std > 0
            d_std = np.where(positive, 1.0 / (1.0 + log_std * positive + self.epsilon), np.exp(log_std * ~positive))
        else:
            d_std = np.exp(log_std)
        return g_mean, g_std * d_std
