"""An example custom NumPy features extractor: SB3's test_train_eval_mode ``FlattenBatchNormDropoutExtractor``
(flatten -> BatchNorm1d -> Dropout(p)), written to the protocol of sb3_scratch_ppo/nn/base_extractor.py, with its
backward pass by hand. tests/test_custom_extractor.py checks it against torch's modules and autograd."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from sb3_scratch_ppo.nn import preprocessing
from sb3_scratch_ppo.nn.base_extractor import BaseFeaturesExtractor


class FlattenBatchNormDropoutExtractor(BaseFeaturesExtractor):
    """x -> BatchNorm1d(n) -> Dropout(p), as torch computes them (eps 1e-5, momentum 0.1, unbiased running variance).

    Train mode, per feature over the batch (B rows):
        mu = mean(x), var = mean((x - mu)^2), x_hat = (x - mu) / sqrt(var + eps), y = gamma x_hat + beta
        running_mean <- (1 - m) running_mean + m mu;  running_var <- (1 - m) running_var + m var B / (B - 1)
        dropout: out = y * mask / (1 - p), mask ~ Bernoulli(1 - p)
    Eval mode: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta, no dropout.
    Backward (train): dbeta = sum(g_y), dgamma = sum(g_y x_hat),
        (dx = gamma / (B sqrt(var + eps)) * (B g_y - sum(g_y) - x_hat sum(g_y x_hat)) is not needed: it is the first layer.)
    """

    def __init__(self, observation_space: spaces.Space, p: float = 0.5, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(observation_space, preprocessing.features_dim(observation_space))
        self.p, self.eps, self.momentum = p, eps, momentum
        n = self.features_dim
        self.running_mean, self.running_var = np.zeros(n, np.float32), np.ones(n, np.float32)
        self.num_batches_tracked = np.zeros((), np.int64)

    def parameter_shapes(self, prefix):
        return [(f"{prefix}.batch_norm.weight", (self.features_dim,)), (f"{prefix}.batch_norm.bias", (self.features_dim,))]

    def bind(self, params, prefix):
        self.gamma, self.beta = params.views[f"{prefix}.batch_norm.weight"], params.views[f"{prefix}.batch_norm.bias"]
        self.g_gamma, self.g_beta = (
            params.grad_views[f"{prefix}.batch_norm.weight"],
            params.grad_views[f"{prefix}.batch_norm.bias"],
        )
        self.gamma[:] = 1.0  # torch's BatchNorm1d init
        self.beta[:] = 0.0
        dtype = params.data.dtype
        self.running_mean, self.running_var = self.running_mean.astype(dtype), self.running_var.astype(dtype)

    def buffer_views(self, prefix):
        names = ("running_mean", "running_var", "num_batches_tracked")
        return [(f"{prefix}.batch_norm.{name}", getattr(self, name)) for name in names]

    def forward(self, x, cache=None):
        x = x.reshape(len(x), -1)
        if not self.training:
            return self.gamma * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + self.beta
        mu, var = x.mean(axis=0), x.var(axis=0)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mu) * inv_std
        y = self.gamma * x_hat + self.beta
        m = self.momentum
        self.running_mean[:] = (1 - m) * self.running_mean + m * mu
        self.running_var[:] = (1 - m) * self.running_var + m * var * len(x) / max(len(x) - 1, 1)
        self.num_batches_tracked += 1
        scale = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p) if self.p > 0 else np.ones_like(x)
        scale = scale.astype(x.dtype)
        if cache is not None:
            cache.append((x_hat, scale))
        return y * scale

    def backprop(self, g, cache):
        x_hat, scale = cache[0]
        g_y = g * scale
        self.g_beta[:] = g_y.sum(axis=0)
        self.g_gamma[:] = (g_y * x_hat).sum(axis=0)
        # dL/dx would go on to an earlier layer; this extractor is the first, so it stops here.
