"""SB3's ``Distribution`` object, as ``policy.get_distribution(obs)`` returns it, over our NumPy distributions.

SB3 users read action probabilities this way::

    dist = model.policy.get_distribution(obs_tensor)
    dist.log_prob(actions), dist.entropy(), dist.sample(), dist.mode(), dist.get_actions(deterministic=True)
    dist.distribution.probs          # torch.distributions.Categorical (Discrete), Normal (Box), ...

The methods compute in NumPy (``nn/distributions.py``, ``nn/gsde.py``) and return what the observation was given
as: torch tensors for a torch observation, NumPy arrays otherwise. ``distribution`` is SB3's torch.distributions
object(s) built from our outputs (torch is imported only there): a ``Categorical`` for Discrete, a list of them for
MultiDiscrete, a ``Bernoulli`` for MultiBinary, a ``Normal`` for Box (with gSDE: the state-dependent one, before any
tanh squashing, as SB3's). This is SB3's API for users reading probabilities; nothing that learns uses it (training
runs ``nn/distributions.py`` in NumPy, with hand-written gradients).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sb3_scratch_ppo.nn.distributions import Bernoulli, Categorical, Distribution, MultiCategorical
from sb3_scratch_ppo.nn.gsde import StateDependentNoise
from sb3_scratch_ppo.nn.masking import MaskedCategorical
from sb3_scratch_ppo.optimizer import to_numpy


def as_torch(value: Any) -> Any:
    """A NumPy array (or None) as a torch tensor, for callers that gave torch inputs."""
    import torch  # SB3's API speaks torch

    return None if value is None else torch.from_numpy(np.array(value))  # a copy: ours may be a read-only view


class PolicyDistribution:
    """The action distribution for a batch of observations: SB3's ``Distribution`` methods, in NumPy.

    :param dist: the policy's distribution (``policy.action_dist``)
    :param out: action_net's output for the batch (B, out_dim)
    :param log_std: the policy's log_std (Gaussians, gSDE) or None
    :param latent_pi: the actor's latent (gSDE reads it)
    :param rng: the policy's sampling generator
    :param torch_out: return torch tensors (the observation was a torch tensor)
    """

    def __init__(
        self,
        dist: Distribution,
        out: np.ndarray,
        log_std: np.ndarray | None,
        latent_pi: np.ndarray,
        rng: np.random.Generator,
        torch_out: bool,
        masks: np.ndarray | None = None,
    ):
        self.dist, self.out, self.log_std, self.latent_pi, self.rng = dist, out, log_std, latent_pi, rng
        self.torch_out = torch_out
        self.masks = masks  # sb3-contrib's action masks (a MaskedCategorical), or None
        self.kw = {} if masks is None else {"masks": masks}

    def _give(self, value: Any) -> Any:
        return as_torch(value) if self.torch_out else value

    def log_prob(self, actions: Any) -> Any:
        """log pi(a|s) per row (B,), summed over action dimensions, as SB3's."""
        actions = to_numpy(actions)
        return self._give(self.dist.log_prob_entropy(self.out, self.log_std, actions, self.latent_pi, **self.kw)[0])

    def entropy(self) -> Any:
        """H(pi(.|s)) per row (B,); None for squashed gSDE, whose entropy has no closed form (as SB3)."""
        if isinstance(self.dist, StateDependentNoise) and self.dist.squash_output:
            return None
        mode = self.dist.mode(self.out, self.log_std, self.latent_pi, **self.kw)
        return self._give(self.dist.log_prob_entropy(self.out, self.log_std, mode, self.latent_pi, **self.kw)[1])

    def sample(self) -> Any:
        """A sampled action per row (the policy's generator; gSDE: its current exploration matrices)."""
        return self._give(self.dist.sample(self.out, self.log_std, self.rng, self.latent_pi, **self.kw))

    def mode(self) -> Any:
        """The most likely action per row."""
        return self._give(self.dist.mode(self.out, self.log_std, self.latent_pi, **self.kw))

    def get_actions(self, deterministic: bool = False) -> Any:
        """SB3's: the mode if ``deterministic``, else a sample."""
        return self.mode() if deterministic else self.sample()

    @property
    def distribution(self) -> Any:
        """SB3's torch.distributions object(s) for this batch, built from our NumPy outputs."""
        import torch
        from torch.distributions import Bernoulli as TorchBernoulli
        from torch.distributions import Categorical as TorchCategorical
        from torch.distributions import Normal

        out, dist = torch.as_tensor(self.out), self.dist
        if isinstance(dist, MaskedCategorical):  # sb3-contrib's MaskableCategorical: a Categorical of masked logits
            out, dist = torch.as_tensor(dist.masked(self.out, self.masks)), dist.base
        if isinstance(dist, Categorical):
            return TorchCategorical(logits=out)
        if isinstance(dist, MultiCategorical):
            return [TorchCategorical(logits=part) for part in torch.split(out, dist.nvec, dim=1)]
        if isinstance(dist, Bernoulli):
            return TorchBernoulli(logits=out)
        assert self.log_std is not None  # Box: a Gaussian, with its log_std parameter
        if isinstance(self.dist, StateDependentNoise):
            std = self.dist.get_std(self.log_std)
            sigma = np.sqrt((self.latent_pi * self.latent_pi) @ (std * std) + self.dist.epsilon)
        else:
            sigma = np.broadcast_to(np.exp(self.log_std), self.out.shape)
        return Normal(out, torch.as_tensor(np.ascontiguousarray(sigma)))
