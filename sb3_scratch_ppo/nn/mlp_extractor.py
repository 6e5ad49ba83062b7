"""The policy's second stage, SB3's ``MlpExtractor``: separate pi and vf towers of Linear + activation reading the
same features (no shared layers, as SB3 >= 1.8), their parameters named ``mlp_extractor.policy_net.{0,2,...}`` and
``mlp_extractor.value_net.{0,2,...}``.

    features --policy_net--> latent_pi        features (or the vf extractor's) --value_net--> latent_vf
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from sb3_scratch_ppo.nn.layers import MLP, FlatParameters, LayerStep, linear_shapes


class MlpCache(NamedTuple):
    """What MlpExtractor's backprop reads: one ``LayerStep`` per layer of the pi tower and of the vf tower."""

    pi: list[LayerStep]
    vf: list[LayerStep]


def sb3_net_arch(net_arch: Any, after_cnn: bool) -> Any:
    """``net_arch`` as SB3's ActorCriticPolicy keeps it (``policy.net_arch``): the pre-1.8 ``[dict(pi=..., vf=...)]``
    unwrapped with SB3's warning, word for word; None -> SB3's default (none after NatureCNN, else 64x64 both)."""
    if isinstance(net_arch, list) and len(net_arch) > 0 and isinstance(net_arch[0], dict):
        warnings.warn(
            "As shared layers in the mlp_extractor are removed since SB3 v1.8.0, "
            "you should now pass directly a dictionary and not a list "
            "(net_arch=dict(pi=..., vf=...) instead of net_arch=[dict(pi=..., vf=...)])"
        )
        net_arch = net_arch[0]
    if net_arch is None:
        net_arch = [] if after_cnn else dict(pi=[64, 64], vf=[64, 64])
    return net_arch


def parse_net_arch(net_arch: Any) -> tuple[list[int], list[int]]:
    """SB3's net_arch: None -> 64x64 for both; a list -> the same sizes for pi and vf; dict(pi=[..], vf=[..])."""
    if net_arch is None:
        return [64, 64], [64, 64]
    if isinstance(net_arch, list) and len(net_arch) > 0 and isinstance(net_arch[0], dict):
        net_arch = net_arch[0]  # SB3 < 1.8 format, still accepted by SB3 (with a warning)
    if isinstance(net_arch, dict):
        unknown = set(net_arch) - {"pi", "vf"}
        if unknown:
            raise ValueError(f"net_arch has unknown keys {sorted(unknown)}; expected dict(pi=[...], vf=[...])")
        pi, vf = list(net_arch.get("pi", [])), list(net_arch.get("vf", []))
    elif isinstance(net_arch, (list, tuple)):
        pi, vf = list(net_arch), list(net_arch)
    else:
        raise ValueError(f"net_arch={net_arch!r}: expected a list of layer sizes or dict(pi=[...], vf=[...])")
    for size in pi + vf:
        if not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"net_arch={net_arch!r}: layer sizes must be positive integers, got {size!r}")
    return [int(s) for s in pi], [int(s) for s in vf]


class MlpExtractor:
    """SB3's MlpExtractor: a pi tower and a vf tower of Linear + activation, both reading the features.

    Its parameters live in the policy's flat buffers: the policy asks for ``parameter_shapes``, lays out every
    parameter of the network in SB3's order (``FlatParameters``), then ``bind``s the towers to their views.
    """

    policy_net: MLP  # set by bind()
    value_net: MLP

    def __init__(self, features_dim: int, net_arch: Any, activation: Any):
        pi_sizes, vf_sizes = parse_net_arch(net_arch)
        self.features_dim = features_dim
        self.sizes = {"policy_net": pi_sizes, "value_net": vf_sizes}
        self.activation = activation
        self.latent_dim_pi = pi_sizes[-1] if pi_sizes else features_dim
        self.latent_dim_vf = vf_sizes[-1] if vf_sizes else features_dim

    def _layer_names(self, prefix: str, tower: str) -> list[str]:
        """Every other index, as in SB3's Sequential(Linear, activation, Linear, activation, ...)."""
        return [f"{prefix}.{tower}.{2 * i}" for i in range(len(self.sizes[tower]))]

    def parameter_shapes(self, prefix: str) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter, the pi tower first, as in SB3's state_dict."""
        shapes = []
        for tower, sizes in self.sizes.items():
            names, in_sizes = self._layer_names(prefix, tower), [self.features_dim, *sizes][: len(sizes)]
            for name, in_size, out_size in zip(names, in_sizes, sizes, strict=True):
                shapes += linear_shapes(name, in_size, out_size)
        return shapes

    def bind(self, params: FlatParameters, prefix: str) -> None:
        self.policy_net = MLP([params.linear(name) for name in self._layer_names(prefix, "policy_net")], self.activation)
        self.value_net = MLP([params.linear(name) for name in self._layer_names(prefix, "value_net")], self.activation)

    def forward(
        self, features: np.ndarray, cache: MlpCache | None = None, vf_features: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """latent_pi and latent_vf; with an ``MlpCache``, what ``backprop`` needs is appended to its lists. The vf tower
        reads ``vf_features`` when the value function has a features extractor of its own."""
        pi_cache, vf_cache = cache if cache is not None else (None, None)
        vf_features = features if vf_features is None else vf_features
        return self.policy_net.forward(features, pi_cache), self.value_net.forward(vf_features, vf_cache)

    def forward_actor(self, features: np.ndarray) -> np.ndarray:
        return self.policy_net.forward(features)

    def forward_critic(self, features: np.ndarray) -> np.ndarray:
        return self.value_net.forward(features)

    def backprop(
        self, g_latent_pi: np.ndarray, g_latent_vf: np.ndarray, cache: MlpCache, need_features_grad: bool = False
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Write both towers' gradients from dL/dlatent_pi and dL/dlatent_vf; return dL/dfeatures through each tower
        if asked (a features extractor that learns needs them; the flatten extractor does not)."""
        g_pi = self.policy_net.backprop(g_latent_pi, cache.pi, need_features_grad)
        g_vf = self.value_net.backprop(g_latent_vf, cache.vf, need_features_grad)
        return (g_pi, g_vf) if need_features_grad else None
