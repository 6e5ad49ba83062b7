"""PPO's loss on one minibatch and its gradient, by hand: every equation of the update in one place.

``ScratchPPO.train`` (ppo.py) calls ``ppo_loss`` once per minibatch, then the returned ``backprop``, which writes
dLoss/dparams into the policy's flat gradient buffer for clipping and Adam (optimizer.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # the math needs NumPy alone; these name what it is handed
    from sb3_scratch_ppo.policy import ActorCriticPolicy
    from sb3_scratch_ppo.rollout import Minibatch


class LossTerms(NamedTuple):
    """The scalars of one minibatch's loss (as Python floats, for logging) and its backward pass (backprop)."""

    policy_loss: float
    value_loss: float
    entropy_loss: float
    loss: float
    approx_kl: float
    clip_fraction: float
    backprop: Callable[[], None]


def ppo_loss(
    policy: ActorCriticPolicy,
    data: Minibatch,
    clip_range: float,
    clip_range_vf: float | None,
    ent_coef: float,
    vf_coef: float,
    normalize_advantage: bool,
) -> LossTerms:
    """PPO's loss on one minibatch, with SB3's exact semantics; ``backprop()`` writes dLoss/dparams into policy.grads.

    The paper's objective (Schulman et al. 2017), maximized, and SB3's names for its parts:

        r(theta) = pi(a|s) / pi_old(a|s)                  ratio = exp(log_prob - old_log_prob)
        L^CLIP   = mean(min(r A, clip(r, 1 - eps, 1 + eps) A))             eq. 7; eps = clip_range
        L^VF     = mean((V(s) - V^targ)^2)                V^targ = returns (GAE's advantages + the rollout's values)
        S        = mean(H(pi(.|s)))                       the entropy bonus
        L^{CLIP+VF+S} = L^CLIP - c1 L^VF + c2 S                            eq. 9; c1 = vf_coef, c2 = ent_coef

    SB3 minimizes its negative, term by term:

        loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
             = -L^CLIP     + c2 * (-S)                + c1 * L^VF

    What SB3 adds to the paper: A is normalized per minibatch, (A - mean) / (std + 1e-8) with the unbiased std;
    with ``clip_range_vf`` the value is clipped around the rollout's, V_pred = old_V + clip(V - old_V, -eps_vf,
    eps_vf), and value_loss = mean((R - V_pred)^2) (not the max of clipped and unclipped losses of the paper's
    code and CleanRL). Logged, not optimized: approx_kl = mean((r - 1) - log r) (Schulman's k3 estimator; train
    stops early when it exceeds 1.5 * target_kl) and clip_fraction = the share of samples with |r - 1| > eps.
    """
    masks = {} if data.action_masks is None else {"action_masks": data.action_masks}  # with action masking only
    values, log_prob, entropy, cache = policy.evaluate_with_cache(data.observations, data.actions, **masks)
    n = len(values)

    # --8<-- [start:loss]
    advantages = data.advantages
    if normalize_advantage and n > 1:
        advantages = normalize(advantages)

    # Clipped surrogate (eq. 7).
    log_ratio = log_prob - data.old_log_prob
    ratio = np.exp(log_ratio)
    policy_loss_1 = advantages * ratio
    policy_loss_2 = advantages * ratio.clip(1 - clip_range, 1 + clip_range)  # the method: half np.clip's cost
    policy_loss = -mean(np.minimum(policy_loss_1, policy_loss_2))

    # Value loss, optionally clipped around the rollout's values.
    if clip_range_vf is None:
        values_pred = values
    else:
        values_pred = data.old_values + (values - data.old_values).clip(-clip_range_vf, clip_range_vf)
    value_error = values_pred - data.returns
    value_loss = mean_square(value_error)

    entropy_loss = -mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    # --8<-- [end:loss]

    def backprop() -> None:
        """The same terms, differentiated by hand, down to dLoss/dV, dLoss/dlog_prob, dLoss/dH per sample."""
        # --8<-- [start:loss_backprop]
        # d min(r A, clip(r) A) / dr = A where the unclipped term is the smaller (ties included), else 0;
        # dr / dlog_prob = r.
        g_log_prob = (advantages * (policy_loss_1 <= policy_loss_2)) * (ratio * (-1 / n))
        g_values = value_error * (2 * vf_coef / n)
        if clip_range_vf is not None:  # clip passes the gradient inside [-eps_vf, eps_vf], bounds included
            g_values *= np.abs(values - data.old_values) <= clip_range_vf
        g_entropy = np.full(n, -ent_coef / n, dtype=values.dtype) if ent_coef else None  # None: no entropy term
        policy.backprop(cache, g_values, g_log_prob, g_entropy)
        # --8<-- [end:loss_backprop]

    ratio_minus_1 = ratio - 1
    return LossTerms(
        policy_loss=float(policy_loss),
        value_loss=float(value_loss),
        entropy_loss=float(entropy_loss),
        loss=float(loss),
        approx_kl=float(mean(ratio_minus_1 - log_ratio)),
        clip_fraction=np.count_nonzero(np.abs(ratio_minus_1) > clip_range) / n,
        backprop=backprop,
    )


# Reductions over one minibatch. NumPy's x.mean(), x.std(ddof=1) and np.mean(x ** 2) spend most of their time in
# per-call overhead on arrays of a few hundred floats, enough to show in a whole zoo run; these compute the same.


def mean(x: np.ndarray) -> np.floating:
    return np.add.reduce(x) / len(x)


def normalize(x: np.ndarray) -> np.ndarray:
    """(x - mean) / (std + 1e-8), with the unbiased standard deviation (N - 1), as torch's .std()."""
    centered = x - mean(x)
    return centered / (np.sqrt(np.dot(centered, centered) / (len(x) - 1)) + 1e-8)


def mean_square(x: np.ndarray) -> np.floating:
    return np.dot(x, x) / len(x)


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """1 - Var[y_true - y_pred] / Var[y_true]: 1 is a perfect value function, 0 no better than a constant
    (NaN if Var[y_true] = 0)."""
    var_y = np.var(y_true)
    return np.nan if var_y == 0 else float(1 - np.var(y_true - y_pred) / var_y)
