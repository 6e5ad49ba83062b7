"""The actor-critic behind "MlpPolicy": SB3's ActorCriticPolicy in NumPy, composed as SB3's is.

    obs --preprocess--> x --features_extractor--> features --mlp_extractor--> latent_pi --action_net--> distribution
                                                                          \\-> latent_vf --value_net---> V(s)

The pieces are in ``nn/``: ``extractors.py`` (features extractors), ``mlp_extractor.py`` (the pi and vf towers),
``layers.py`` (Linear, activations, init, the flat buffers), ``distributions.py`` and ``gsde.py``; SB3's policy API on
top of it is ``policy_api.py``. All parameters live in one flat buffer ``params`` with per-layer views,
in the order and under the names of SB3's ``ActorCriticPolicy.state_dict()`` (torch layout: Linear weights are
(out, in)); gradients live in ``grads`` with the same layout, so clipping and Adam are a few array operations.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from gymnasium import spaces

from sb3_scratch_ppo.checks import check_policy_kwargs
from sb3_scratch_ppo.nn.distributions import Distribution, make_distribution
from sb3_scratch_ppo.nn.extractors import (
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    extractor_class,
    make_features_extractor,
)
from sb3_scratch_ppo.nn.fused import FUSED_MAX_MACS, FusedActorCritic
from sb3_scratch_ppo.nn.gsde import StateDependentNoise
from sb3_scratch_ppo.nn.layers import FlatParameters, linear_shapes, make_activation, orthogonal, torch_default_init
from sb3_scratch_ppo.nn.mlp_extractor import MlpCache, MlpExtractor, sb3_net_arch
from sb3_scratch_ppo.optimizer import Adam
from sb3_scratch_ppo.policy_api import SB3PolicyAPI


@dataclass
class ForwardCache:
    """What the backward pass reads of one forward pass (``evaluate_with_cache`` fills it, ``backprop`` reads it): the
    features extractors' caches (a list, or a dict per key for Dict observations), the two towers', the latents and
    the distribution's context."""

    features: list | dict
    vf_features: list | dict
    mlp: MlpCache
    latent_pi: np.ndarray | None = None
    latent_vf: np.ndarray | None = None
    dist: Any = None


class ActorCriticPolicy(SB3PolicyAPI):
    """SB3's ActorCriticPolicy (MlpPolicy), in NumPy. Constructed by ScratchPPO from ``policy_kwargs``.

    With ``use_sde`` the actions come from gSDE (``gsde.py``; ``full_std``, ``use_expln``, ``squash_output``);
    without it ``full_std`` and ``use_expln`` are accepted and ignored, as in SB3. With a features extractor that
    learns (NatureCNN, CombinedExtractor with images), ``share_features_extractor=True`` (SB3's default) gives one
    extractor that every loss trains; False gives the value function an extractor of its own,
    ``vf_features_extractor``, trained by the value loss only, as SB3.
    """

    default_features_extractor: type = FlattenExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: Any = None,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = 0.0,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        normalize_images: bool = True,
        features_extractor_class: Any = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        optimizer_class: Any = None,
        optimizer_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        dtype: Any = np.float32,
        **unsupported: Any,
    ):
        # SB3's attributes, as SB3 sets them (policy.save() writes them for SB3's constructor: files/policy_file.py).
        self.activation_fn, self.optimizer_class = activation_fn, optimizer_class
        adam = getattr(optimizer_class, "__name__", "Adam") == "Adam"  # SB3: eps 1e-5 for Adam when no kwargs are given
        self.optimizer_kwargs = dict(optimizer_kwargs) if optimizer_kwargs is not None else ({"eps": 1e-5} if adam else {})
        self.features_extractor_kwargs = dict(features_extractor_kwargs or {})
        gsde_kwargs = dict(full_std=full_std, squash_output=squash_output, use_expln=use_expln, learn_features=False)
        self.dist_kwargs: dict[str, bool] | None = gsde_kwargs if use_sde else None
        optimizer_kwargs = check_policy_kwargs(unsupported, use_sde, squash_output, optimizer_class, optimizer_kwargs)
        self.observation_space = observation_space
        self.action_space = action_space
        self.normalize_images = normalize_images
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.ortho_init = ortho_init
        self.log_std_init = log_std_init
        self.use_sde, self.squash_output = use_sde, squash_output

        self.features_extractor_class = cls = extractor_class(features_extractor_class or self.default_features_extractor)
        kwargs = dict(features_extractor_kwargs or {})
        if not normalize_images and cls in (NatureCNN, CombinedExtractor):
            kwargs["normalized_image"] = True  # as SB3's BaseModel: no dtype or bounds checks then
        self.net_arch = net_arch = sb3_net_arch(net_arch, after_cnn=cls is NatureCNN)
        self.share_features_extractor = share_features_extractor
        self.features_extractor = make_features_extractor(cls, kwargs, observation_space, normalize_images, self.rng)
        self.features_dim = self.features_extractor.features_dim
        self.extractor_learns = bool(self.features_extractor.parameter_shapes("features_extractor"))
        self.vf_features_extractor = self.features_extractor
        if not share_features_extractor and self.extractor_learns:
            self.vf_features_extractor = make_features_extractor(cls, kwargs, observation_space, normalize_images, self.rng)
        self.mlp_extractor = MlpExtractor(self.features_dim, net_arch, make_activation(activation_fn))
        self.action_dist: Distribution
        if use_sde:  # Box only: BaseAlgorithm refuses gSDE for other action spaces
            self.action_dist = StateDependentNoise(int(np.prod(action_space.shape)), full_std, use_expln, squash_output)
        else:
            self.action_dist = self.make_action_dist(action_space)
        log_std_shape = self.action_dist.log_std_shape(self.mlp_extractor.latent_dim_pi)
        self.has_log_std = log_std_shape is not None

        # Every parameter in one flat buffer, in SB3's state_dict order; then the layers on their views.
        out_dim = self.action_dist.out_dim
        shapes = [("log_std", log_std_shape)] if self.has_log_std else []
        shapes += self.features_extractor.parameter_shapes("features_extractor")
        if self.vf_features_extractor is not self.features_extractor:
            shapes += self.vf_features_extractor.parameter_shapes("vf_features_extractor")
        shapes += self.mlp_extractor.parameter_shapes("mlp_extractor")
        shapes += linear_shapes("action_net", self.mlp_extractor.latent_dim_pi, out_dim)
        shapes += linear_shapes("value_net", self.mlp_extractor.latent_dim_vf, 1)
        flat = FlatParameters(OrderedDict(shapes), self.dtype)
        self.params, self.grads = flat.data, flat.grad
        self.param_views, self.grad_views = flat.views, flat.grad_views  # name -> view, as state_dict()
        self.features_extractor.bind(flat, "features_extractor")
        if self.vf_features_extractor is not self.features_extractor:
            self.vf_features_extractor.bind(flat, "vf_features_extractor")
        self.mlp_extractor.bind(flat, "mlp_extractor")
        self.action_net, self.value_net = flat.linear("action_net"), flat.linear("value_net")
        self._init_weights()
        if use_sde:
            self.reset_noise()  # as SB3's construction: one shared matrix

        self.optimizer = Adam(self.params, self.grads, list(self.param_views.values()), lr=lr_schedule(1), **optimizer_kwargs)

    def make_action_dist(self, action_space: spaces.Space) -> Distribution:
        """The action distribution (SB3's make_proba_distribution; a masked one for ScratchMaskablePPO's policies)."""
        return make_distribution(action_space)

    def _init_weights(self) -> None:
        """SB3's init of its Linear and Conv2d layers: orthogonal with gain sqrt(2) for hidden layers, 0.01 for
        action_net, 1 for value_net; biases 0 (without ortho_init, torch's defaults)."""
        gains = {"action_net": 0.01, "value_net": 1.0}  # hidden layers: sqrt(2)
        for name, weight in self.param_views.items():
            if not name.endswith(".weight") or weight.ndim < 2:  # SB3 inits Linear and Conv2d; a norm layer keeps its own
                continue
            layer = name[: -len(".weight")]
            bias = self.param_views[f"{layer}.bias"]
            if self.ortho_init:
                weight[:] = orthogonal(weight.shape, gains.get(layer, math.sqrt(2)), self.rng)
                bias[:] = 0.0
            else:
                weight[:], bias[:] = torch_default_init(weight.shape, self.rng)
        if self.has_log_std:
            self.param_views["log_std"][:] = self.log_std_init

    @property
    def log_std(self) -> np.ndarray | None:
        return self.param_views["log_std"] if self.has_log_std else None

    def reset_noise(self, n_envs: int = 1) -> None:
        """gSDE: draw new exploration matrices, one per env (SB3's reset_noise)."""
        assert isinstance(self.action_dist, StateDependentNoise), "reset_noise() is only available when using gSDE"
        self.action_dist.sample_weights(self.log_std, n_envs, self.rng)

    # --- forward and backward ----------------------------------------------------------------------------

    def input_spec(self):
        """Shape and dtype of one network input as the rollout stores it (a dict of them for Dict spaces)."""
        return self.features_extractor.input_spec(self.dtype)

    def preprocess(self, obs: Any, out: Any = None) -> Any:
        """A batch of raw observations -> the network's input (what the rollout stores), written into ``out`` if given.
        For MlpPolicy it is the float features; images stay raw (uint8), and the CNN makes them floats."""
        return self.features_extractor.preprocess(obs, out=out)

    def latents(self, x: Any, cache: ForwardCache | None = None) -> tuple[np.ndarray, np.ndarray]:
        """latent_pi and latent_vf from the network input: the features extractor(s), then the mlp_extractor. With a
        ``ForwardCache``, what ``backprop`` needs goes in it."""
        features = self.features_extractor.forward(x, None if cache is None else cache.features)
        vf_features = None
        if self.vf_features_extractor is not self.features_extractor:
            vf_features = self.vf_features_extractor.forward(x, None if cache is None else cache.vf_features)
        return self.mlp_extractor.forward(features, None if cache is None else cache.mlp, vf_features)

    def forward(self, x: Any, deterministic: bool = False, action_masks: Any = None) -> tuple[np.ndarray, ...]:
        """Actions (sampled, or the mode), V(s) (B,) and log pi(a|s) (B,) for a batch of network inputs: what a
        rollout step runs. A subclass may override it (or ``act``, ``predict_values``) to change what rollouts do,
        as SB3's custom policies override theirs; the update's forward is ``evaluate_with_cache``."""
        latent_pi, latent_vf = self.latents(x)
        out, values = self.action_net.forward(latent_pi), self.value_net.forward(latent_vf)[:, 0]
        return self.act(out, values, latent_pi, deterministic, *(() if action_masks is None else (action_masks,)))

    def act(self, out: np.ndarray, values: np.ndarray, latent_pi: np.ndarray, deterministic: bool, action_masks=None):
        """forward's last step, from action_net's output, V(s) and latent_pi: actions, values, log pi(a|s)."""
        masks = self._mask(action_masks)
        if deterministic:
            actions = self.action_dist.mode(out, self.log_std, latent_pi, **masks)
            log_prob = self.action_dist.log_prob_entropy(out, self.log_std, actions, latent_pi, **masks)[0]
        else:
            actions, log_prob = self.action_dist.sample_log_prob(out, self.log_std, self.rng, latent_pi, **masks)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob

    def rollout_net(self, batch_size: int, deterministic: bool = False) -> Callable:
        """The network that acts during one rollout of ``batch_size`` envs: ``actions, values, log_probs = net(x)``.

        It reads the weights as they are now, so build it at the start of each rollout. For small batches it runs pi
        and vf as one MLP (``FusedActorCritic``): with a few envs per step NumPy's per-call cost outweighs the
        arithmetic, so halving the calls pays. Otherwise, and for towers of different depths, it is ``forward``."""
        fused = self.fused_net(batch_size)
        if fused is None:
            return functools.partial(self.forward, deterministic=deterministic)
        extractor, act = self.features_extractor.forward, self.act

        def net(x: Any, action_masks: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return act(*fused(extractor(x)), deterministic, *(() if action_masks is None else (action_masks,)))

        return net

    def fused_net(self, batch_size: int) -> FusedActorCritic | None:
        """pi and vf as one MLP (nn/fused.py) where it pays: equal tower depths, an extractor that does not learn (a
        CNN's cost dwarfs the calls fusing would save), and batch size x weights below ``FUSED_MAX_MACS``. Never for
        a subclass that overrides ``forward`` or ``act``: its rollouts go through its own ``forward``, as in SB3."""
        pi, vf = self.mlp_extractor.policy_net.layers, self.mlp_extractor.value_net.layers
        overridden = type(self).forward is not ActorCriticPolicy.forward or type(self).act is not ActorCriticPolicy.act
        if len(pi) != len(vf) or self.extractor_learns or overridden:
            return None
        net = FusedActorCritic(pi, vf, self.action_net, self.value_net, self.mlp_extractor.activation, self.dtype)
        return net if batch_size * net.macs <= FUSED_MAX_MACS else None

    def predict_values(self, x: Any) -> np.ndarray:
        return self.value_net.forward(self.mlp_extractor.forward_critic(self.vf_features_extractor.forward(x)))[:, 0]

    def actions_from(self, x: Any, deterministic: bool, action_masks: Any = None) -> np.ndarray:
        """Actions for a batch of network inputs, as the distribution returns them (gSDE: tanh'd if squashing)."""
        latent_pi = self.mlp_extractor.forward_actor(self.features_extractor.forward(x))
        out, masks = self.action_net.forward(latent_pi), self._mask(action_masks)
        if deterministic:
            return self.action_dist.mode(out, self.log_std, latent_pi, **masks)
        return self.action_dist.sample(out, self.log_std, self.rng, latent_pi, **masks)

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        """What the env gets for the distribution's Box actions: unscaled from [-1, 1] when squashing, else clipped
        to the bounds (the rollout stores the actions as drawn)."""
        if self.squash_output:
            return self.unscale_action(actions)
        box = cast(spaces.Box, self.action_space)  # env_actions is for Box actions only
        return np.clip(actions, box.low, box.high)

    def evaluate_with_cache(self, x: Any, actions: np.ndarray, action_masks: Any = None):
        """The training step's forward (``ppo_loss``): V(s), log pi(a|s), H(pi(.|s)), each (B,), and the cache for
        ``backprop``. SB3's three-value ``evaluate_actions`` is in policy_api.py."""
        empty = dict if isinstance(x, dict) else list  # CombinedExtractor caches per key
        cache = ForwardCache(features=empty(), vf_features=empty(), mlp=MlpCache([], []))
        latent_pi, latent_vf = self.latents(x, cache)
        out = self.action_net.forward(latent_pi)
        values = self.value_net.forward(latent_vf)[:, 0]
        masks = self._mask(action_masks)
        log_prob, entropy, cache.dist = self.action_dist.log_prob_entropy(out, self.log_std, actions, latent_pi, **masks)
        cache.latent_pi, cache.latent_vf = latent_pi, latent_vf
        return values, log_prob, entropy, cache

    def backprop(
        self, cache: ForwardCache, g_values: np.ndarray, g_log_prob: np.ndarray, g_entropy: np.ndarray | None
    ) -> None:
        """Write dL/dparams into ``grads``, given dL/dV, dL/dlog_prob and dL/dentropy, each (B,) (dL/dentropy may be
        None: 0). Every gradient is overwritten, none accumulated: one call fills ``grads`` for one minibatch.

        A shared features extractor gets the sum of what both towers send back (every loss trains it); a separate
        vf extractor gets the value tower's alone."""
        mlp_cache = cache.mlp
        g_out, g_log_std = self.action_dist.backprop(cache.dist, g_log_prob, g_entropy)
        if g_log_std is not None:
            self.grad_views["log_std"][:] = g_log_std
        learns = self.extractor_learns
        g_latent_pi = self.action_net.backprop(cache.latent_pi, g_out, need_input_grad=bool(mlp_cache.pi) or learns)
        g_latent_vf = self.value_net.backprop(cache.latent_vf, g_values[:, None], need_input_grad=bool(mlp_cache.vf) or learns)
        g_features = self.mlp_extractor.backprop(g_latent_pi, g_latent_vf, mlp_cache, need_features_grad=learns)
        if not learns:
            return
        g_pi, g_vf = g_features
        if self.vf_features_extractor is self.features_extractor:
            self.features_extractor.backprop(g_pi + g_vf, cache.features)
        else:
            self.features_extractor.backprop(g_pi, cache.features)
            self.vf_features_extractor.backprop(g_vf, cache.vf_features)
