"""pi and vf as one MLP, for the rollout step: with a few envs per step NumPy's per-call cost outweighs the
arithmetic, so halving the calls pays. The first layers are stacked (they read the same features), the later layers
and the heads block-diagonal, so each layer is one matmul instead of two; the zero blocks add exact zeros, so the
result is bit for bit the two towers'."""

from __future__ import annotations

from typing import Any

import numpy as np

# The fused network is used while batch size x its weights stays below this many multiply-adds: past it, the
# block-diagonal zeros cost more than the calls saved.
FUSED_MAX_MACS = 150_000


class FusedActorCritic:
    """The pi tower + action_net and the vf tower + value_net as one MLP. The weights are copies made at
    construction: build it when the weights are as they will stay (ActorCriticPolicy.rollout_net, once a rollout)."""

    def __init__(self, pi_layers: list, vf_layers: list, action_net: Any, value_net: Any, activation: Any, dtype: Any):
        self.latent_dim_pi = pi_layers[-1].weight.shape[0] if pi_layers else action_net.weight.shape[1]
        self.activation = activation
        self.layers = []
        for i, (a, b) in enumerate(zip([*pi_layers, action_net], [*vf_layers, value_net], strict=True)):
            if i == 0:
                weight = np.concatenate((a.weight, b.weight))
            else:
                weight = np.zeros((a.weight.shape[0] + b.weight.shape[0], a.weight.shape[1] + b.weight.shape[1]), dtype=dtype)
                weight[: a.weight.shape[0], : a.weight.shape[1]] = a.weight
                weight[a.weight.shape[0] :, a.weight.shape[1] :] = b.weight
            self.layers.append((np.ascontiguousarray(weight.T), np.concatenate((a.bias, b.bias))))
        self.macs = sum(weight.size for weight, _ in self.layers)  # multiply-adds per sample

    def __call__(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The action head's output, V(s) (B,) and latent_pi, from the features."""
        x = features
        *hidden, (head_weight, head_bias) = self.layers
        for weight, bias in hidden:
            z = x @ weight
            z += bias
            x = self.activation.forward(z)
        out = x @ head_weight
        out += head_bias
        return out[:, :-1], out[:, -1], x[:, : self.latent_dim_pi]
