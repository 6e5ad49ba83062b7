"""Invalid-action masking: sb3-contrib's maskable distributions (``sb3_contrib.common.maskable.distributions``), in NumPy.

A mask says, per action (per value of each dimension for MultiDiscrete and MultiBinary), whether it may be taken. As
sb3-contrib's ``MaskableCategorical``, a masked action's logit is replaced by ``HUGE_NEG`` (-1e8) before the softmax:

    z'_j = z_j if mask_j else -1e8          p = softmax(z')   (a masked action's p is exp(-1e8 - ...) = 0)

so it is never sampled, never the mode, and adds nothing to the entropy (p log p = 0 * finite = 0; sb3-contrib also
zeroes it explicitly, which matters where every action is masked: the entropy is then 0). Its gradient to the network's
logit z_j is 0 (z'_j does not depend on z_j); for the others it is the categorical's (``_categorical_backprop``), p_j = 0
dropping out of the sums by itself. The distributions below are the plain ones run on z', with that zero written into
the backward pass; without masks they are the plain ones, bit for bit.

sb3-contrib's MultiBinary is not SB3's Bernoulli: ``MaskableBernoulliDistribution`` is n two-way categoricals (2n logits,
so action_net is twice as wide), which a mask of 2n entries can constrain. ``make_masked_distribution`` follows it.
``tests/test_masking.py`` checks every value and gradient against sb3-contrib's classes and torch autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_scratch_ppo.nn.distributions import Categorical, Distribution, MultiCategorical

HUGE_NEG = -1e8  # sb3-contrib's MaskableCategorical.apply_masking


class MaskedCategorical(Distribution):
    """A (multi-)categorical whose masked actions get logit HUGE_NEG. ``masks``: (B, out_dim) booleans, or None."""

    def __init__(self, base: Categorical | MultiCategorical, action_dtype: Any = np.int64):
        self.base = base
        self.out_dim = base.out_dim
        self.action_dtype = action_dtype

    def masked(self, out: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        """The logits with every masked one set to HUGE_NEG (``out`` itself when there is no mask)."""
        if masks is None:
            return out
        return np.where(self.mask_rows(masks, len(out)), out, out.dtype.type(HUGE_NEG))

    def mask_rows(self, masks: Any, batch: int) -> np.ndarray:
        """Masks as (batch, out_dim) booleans, whatever shape they came in (one per env, flat, or per dimension)."""
        masks = np.asarray(masks, dtype=bool)
        if masks.size != batch * self.out_dim:
            raise ValueError(
                f"action_masks: expected {self.out_dim} booleans per observation ({batch} x {self.out_dim}), got an "
                f"array of shape {masks.shape}"
            )
        return masks.reshape(batch, self.out_dim)

    def sample(self, out, log_std, rng, latent=None, masks=None):
        return self.base.sample(self.masked(out, masks), log_std, rng, latent)

    def mode(self, out, log_std, latent=None, masks=None):
        return self.base.mode(self.masked(out, masks), log_std, latent)

    def sample_log_prob(self, out, log_std, rng, latent=None, masks=None):
        return self.base.sample_log_prob(self.masked(out, masks), log_std, rng, latent)

    def log_prob_entropy(self, out, log_std, actions, latent=None, masks=None):
        log_prob, entropy, ctx = self.base.log_prob_entropy(self.masked(out, masks), log_std, actions, latent)
        if masks is None:
            return log_prob, entropy, (ctx, None)
        masks = self.mask_rows(masks, len(out))
        return log_prob, self._masked_entropy(ctx, masks), (ctx, masks)

    def _masked_entropy(self, ctx, masks: np.ndarray) -> np.ndarray:
        """-sum p log p over the actions the mask allows, as sb3-contrib's MaskableCategorical.entropy: where some
        action is allowed the masked ones add exactly 0 anyway; where none is (every logit -1e8, a uniform p) it is 0,
        not log(n)."""
        if isinstance(self.base, MultiCategorical):
            parts, columns = ctx, np.split(masks, self.base.splits, axis=1)
        else:
            parts, columns = [ctx], [masks]
        return sum(-np.add.reduce(np.where(m.T, c[1] * c[0], 0.0), axis=0) for c, m in zip(parts, columns, strict=True))

    def backprop(self, ctx, g_log_prob, g_entropy):
        """The categorical's gradient, 0 for every masked logit (it was replaced by a constant)."""
        base_ctx, masks = ctx
        g_out, _ = self.base.backprop(base_ctx, g_log_prob, g_entropy)
        if masks is not None:
            g_out = np.where(masks, g_out, 0.0).astype(g_out.dtype, copy=False)
        return g_out, None


def make_masked_distribution(action_space: spaces.Space) -> MaskedCategorical:
    """sb3-contrib's ``make_masked_proba_distribution``: Discrete, MultiDiscrete, and MultiBinary as 2-way categoricals."""
    if isinstance(action_space, spaces.Discrete):
        return MaskedCategorical(Categorical(int(action_space.n)))
    if isinstance(action_space, spaces.MultiDiscrete):
        return MaskedCategorical(MultiCategorical(action_space.nvec))
    if isinstance(action_space, spaces.MultiBinary):
        if not isinstance(action_space.n, (int, np.integer)):
            raise ValueError(
                f"action space {action_space}: multi-dimensional MultiBinary is not supported by sb3-contrib's "
                "maskable distributions (nor here); flatten it"
            )
        return MaskedCategorical(MultiCategorical(np.full(int(action_space.n), 2)))
    raise NotImplementedError(
        f"action space {action_space}: action masking needs Discrete, MultiDiscrete or MultiBinary actions (as "
        "sb3-contrib's MaskablePPO)"
    )
