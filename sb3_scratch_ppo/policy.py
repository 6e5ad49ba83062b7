"""The actor-critic behind "MlpPolicy": SB3's ActorCriticPolicy in NumPy, composed as SB3's is.

    obs --preprocess--> x --features_extractor--> features --mlp_extractor--> latent_pi --action_net--> distribution
                                                                          \\-> latent_vf --value_net---> V(s)

The pieces are in ``extractors.py`` (features extractor, mlp_extractor), ``layers.py`` (Linear, activations, init,
the flat buffers) and ``distributions.py``. All parameters live in one flat buffer ``params`` with per-layer views,
in the order and under the names of SB3's ``ActorCriticPolicy.state_dict()`` (torch layout: Linear weights are
(out, in)); gradients live in ``grads`` with the same layout, so clipping and Adam are a few array operations.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space, maybe_transpose
from stable_baselines3.common.utils import is_vectorized_observation

from sb3_scratch_ppo.nn.distributions import make_distribution
from sb3_scratch_ppo.nn.extractors import (
    CombinedExtractor,
    FlattenExtractor,
    MlpExtractor,
    NatureCNN,
    extractor_class,
    make_features_extractor,
)
from sb3_scratch_ppo.nn.gsde import StateDependentNoise
from sb3_scratch_ppo.nn.layers import FlatParameters, linear_shapes, make_activation, orthogonal, torch_default_init
from sb3_scratch_ppo.optimizer import Adam, to_numpy

# The fused rollout network (FusedActorCritic) is used while batch size x its weights stays below this many
# multiply-adds: past it, the block-diagonal zeros cost more than the calls saved.
FUSED_MAX_MACS = 150_000


def check_policy_kwargs(unsupported: dict[str, Any], use_sde: bool, squash_output: bool,
                        optimizer_class: Any, optimizer_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """Refuse, with the argument's name, what the policy does not implement; return Adam's keyword arguments."""
    for key in unsupported:
        raise TypeError(f"policy_kwargs: unexpected keyword argument {key!r} for ActorCriticPolicy")
    assert not (squash_output and not use_sde), "squash_output=True is only available when using gSDE (use_sde=True)"
    if optimizer_class is not None and getattr(optimizer_class, "__name__", "") != "Adam":
        raise NotImplementedError(f"policy_kwargs: optimizer_class={optimizer_class!r} is not supported; only Adam")
    optimizer_kwargs = {"eps": 1e-5} if optimizer_kwargs is None else dict(optimizer_kwargs)
    bad = set(optimizer_kwargs) - {"eps", "betas"}
    if bad:
        raise NotImplementedError(f"policy_kwargs: optimizer_kwargs {sorted(bad)} are not supported; only eps and betas")
    return optimizer_kwargs


class ActorCriticPolicy:
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
        optimizer_kwargs = check_policy_kwargs(unsupported, use_sde, squash_output, optimizer_class, optimizer_kwargs)
        self.observation_space = observation_space
        self.action_space = action_space
        self.normalize_images = normalize_images
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.ortho_init = ortho_init
        self.log_std_init = log_std_init
        self.net_arch = net_arch
        self.use_sde, self.squash_output = use_sde, squash_output

        cls = extractor_class(features_extractor_class or self.default_features_extractor)
        kwargs = dict(features_extractor_kwargs or {})
        if not normalize_images and cls in (NatureCNN, CombinedExtractor):
            kwargs["normalized_image"] = True  # as SB3's BaseModel: no dtype or bounds checks then
        if net_arch is None and cls is NatureCNN:
            net_arch = []  # SB3: CnnPolicy's default is no hidden layer after the CNN
        self.share_features_extractor = share_features_extractor
        self.features_extractor = make_features_extractor(cls, kwargs, observation_space, normalize_images)
        self.features_dim = self.features_extractor.features_dim
        self.extractor_learns = bool(self.features_extractor.parameter_shapes("features_extractor"))
        self.vf_features_extractor = self.features_extractor
        if not share_features_extractor and self.extractor_learns:
            self.vf_features_extractor = make_features_extractor(cls, kwargs, observation_space, normalize_images)
        self.mlp_extractor = MlpExtractor(self.features_dim, net_arch, make_activation(activation_fn))
        if use_sde:  # Box only: BaseAlgorithm refuses gSDE for other action spaces
            self.action_dist = StateDependentNoise(int(np.prod(action_space.shape)), full_std, use_expln, squash_output)
        else:
            self.action_dist = make_distribution(action_space)
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

    def _init_weights(self) -> None:
        """SB3's init: orthogonal with gain sqrt(2) for hidden layers, 0.01 for action_net, 1 for value_net; biases 0."""
        gains = {"action_net": 0.01, "value_net": 1.0}  # hidden layers: sqrt(2)
        for name, weight in self.param_views.items():
            if not name.endswith(".weight"):
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

    def latents(self, x: Any, cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """latent_pi and latent_vf from the network input: the features extractor(s), then the mlp_extractor. With a
        dict as ``cache``, what ``backprop`` needs goes in it."""
        if cache is not None:
            empty = dict if isinstance(x, dict) else list  # CombinedExtractor caches per key
            cache.update(mlp=([], []), features=empty(), vf_features=empty())
        features = self.features_extractor.forward(x, None if cache is None else cache["features"])
        vf_features = None
        if self.vf_features_extractor is not self.features_extractor:
            vf_features = self.vf_features_extractor.forward(x, None if cache is None else cache["vf_features"])
        return self.mlp_extractor.forward(features, None if cache is None else cache["mlp"], vf_features)

    def forward(self, x: Any, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions (sampled, or the mode), V(s) (B,) and log pi(a|s) (B,) for a batch of network inputs."""
        latent_pi, latent_vf = self.latents(x)
        out, values = self.action_net.forward(latent_pi), self.value_net.forward(latent_vf)[:, 0]
        return self.act(out, values, latent_pi, deterministic)

    def act(self, out: np.ndarray, values: np.ndarray, latent_pi: np.ndarray, deterministic: bool):
        """forward's last step, from action_net's output, V(s) and latent_pi: actions, values, log pi(a|s)."""
        if deterministic:
            actions = self.action_dist.mode(out, self.log_std, latent_pi)
            log_prob = self.action_dist.log_prob_entropy(out, self.log_std, actions, latent_pi)[0]
        else:
            actions, log_prob = self.action_dist.sample_log_prob(out, self.log_std, self.rng, latent_pi)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob

    def rollout_net(self, batch_size: int, deterministic: bool = False) -> Callable:
        """The network that acts during one rollout of ``batch_size`` envs: ``actions, values, log_probs = net(x)``.

        It reads the weights as they are now, so build it at the start of each rollout. For small batches it runs pi
        and vf as one MLP (``FusedActorCritic``): with a few envs per step NumPy's per-call cost outweighs the
        arithmetic, so halving the calls pays. Otherwise, and for towers of different depths, it is ``forward``."""
        same_depth = len(self.mlp_extractor.policy_net.layers) == len(self.mlp_extractor.value_net.layers)
        if same_depth and not self.extractor_learns:  # a CNN's cost dwarfs the calls fusing would save
            net = FusedActorCritic(self, deterministic)
            if batch_size * net.macs <= FUSED_MAX_MACS:
                return net
        return functools.partial(self.forward, deterministic=deterministic)

    def predict_values(self, x: Any) -> np.ndarray:
        return self.value_net.forward(self.mlp_extractor.forward_critic(self.vf_features_extractor.forward(x)))[:, 0]

    def actions_from(self, x: Any, deterministic: bool) -> np.ndarray:
        """Actions for a batch of network inputs, as the distribution returns them (gSDE: tanh'd if squashing)."""
        latent_pi = self.mlp_extractor.forward_actor(self.features_extractor.forward(x))
        out = self.action_net.forward(latent_pi)
        if deterministic:
            return self.action_dist.mode(out, self.log_std, latent_pi)
        return self.action_dist.sample(out, self.log_std, self.rng, latent_pi)

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        """What the env gets for the distribution's Box actions: unscaled from [-1, 1] when squashing, else clipped
        to the bounds (the rollout stores the actions as drawn)."""
        if self.squash_output:
            return self.unscale_action(actions)
        return np.clip(actions, self.action_space.low, self.action_space.high)

    def unscale_action(self, scaled_action: np.ndarray) -> np.ndarray:
        """SB3's: from [-1, 1] to [low, high]."""
        low, high = self.action_space.low, self.action_space.high
        return low + (0.5 * (scaled_action + 1.0) * (high - low))

    def scale_action(self, action: np.ndarray) -> np.ndarray:
        """SB3's: from [low, high] to [-1, 1]."""
        low, high = self.action_space.low, self.action_space.high
        return 2.0 * ((action - low) / (high - low)) - 1.0

    def evaluate_actions(self, x: Any, actions: np.ndarray):
        """Training step: V(s), log pi(a|s), H(pi(.|s)), each (B,), and the cache for ``backprop``."""
        cache: dict = {}
        latent_pi, latent_vf = self.latents(x, cache)
        out = self.action_net.forward(latent_pi)
        values = self.value_net.forward(latent_vf)[:, 0]
        log_prob, entropy, dist_ctx = self.action_dist.log_prob_entropy(out, self.log_std, actions, latent_pi)
        cache.update(latent_pi=latent_pi, latent_vf=latent_vf, dist=dist_ctx)
        return values, log_prob, entropy, cache

    def backprop(self, cache: dict, g_values: np.ndarray, g_log_prob: np.ndarray, g_entropy: np.ndarray | None) -> None:
        """Write dL/dparams into ``grads``, given dL/dV, dL/dlog_prob and dL/dentropy, each (B,) (dL/dentropy may be
        None: 0). Every gradient is overwritten, none accumulated: one call fills ``grads`` for one minibatch.

        A shared features extractor gets the sum of what both towers send back (every loss trains it); a separate
        vf extractor gets the value tower's alone."""
        mlp_cache = cache["mlp"]
        g_out, g_log_std = self.action_dist.backprop(cache["dist"], g_log_prob, g_entropy)
        if g_log_std is not None:
            self.grad_views["log_std"][:] = g_log_std
        learns = self.extractor_learns
        g_latent_pi = self.action_net.backprop(cache["latent_pi"], g_out, need_input_grad=bool(mlp_cache[0]) or learns)
        g_latent_vf = self.value_net.backprop(cache["latent_vf"], g_values[:, None],
                                              need_input_grad=bool(mlp_cache[1]) or learns)
        g_features = self.mlp_extractor.backprop(g_latent_pi, g_latent_vf, mlp_cache, need_features_grad=learns)
        if not learns:
            return
        g_pi, g_vf = g_features
        if self.vf_features_extractor is self.features_extractor:
            self.features_extractor.backprop(g_pi + g_vf, cache["features"])
        else:
            self.features_extractor.backprop(g_pi, cache["features"])
            self.vf_features_extractor.backprop(g_vf, cache["vf_features"])

    # --- SB3's policy API ----------------------------------------------------------------------------------

    def obs_to_tensor(self, observation: Any) -> tuple[Any, bool]:
        """SB3's obs_to_tensor: one observation or a batch (per key for dicts; channel-last images transposed) ->
        the network input, and whether it was a batch."""
        if isinstance(observation, dict):
            if not isinstance(self.observation_space, spaces.Dict):
                raise ValueError(f"predict() got a dict observation, but the observation space is "
                                 f"{self.observation_space}; dict observations need a Dict space and MultiInputPolicy")
            batch, vectorized = {}, False
            for key, obs in observation.items():
                space = self.observation_space.spaces[key]
                obs = maybe_transpose(obs, space) if is_image_space(space) else np.array(obs)
                vectorized = vectorized or is_vectorized_observation(obs, space)
                batch[key] = obs.reshape((-1, *space.shape))
            return self.preprocess(batch), vectorized
        if isinstance(self.observation_space, spaces.Dict):
            raise ValueError(f"predict() got a {type(observation).__name__}, but the observation space is "
                             f"{self.observation_space}: pass a dict with its keys")
        if is_image_space(self.observation_space):
            observation = maybe_transpose(observation, self.observation_space)  # channel-last images are accepted too
        observation = np.array(observation)
        vectorized = is_vectorized_observation(observation, self.observation_space)
        return self.preprocess(observation.reshape((-1, *self.observation_space.shape))), vectorized

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False):
        """SB3's BasePolicy.predict: actions for one observation or a batch, Box actions clipped to the bounds."""
        if isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict):
            raise ValueError(
                "You have passed a tuple to the predict() function instead of a Numpy array or a Dict. "
                "You are probably mixing Gym API with SB3 VecEnv API: `obs, info = env.reset()` (Gym) "
                "vs `obs = vec_env.reset()` (SB3 VecEnv)."
            )
        x, vectorized = self.obs_to_tensor(observation)
        actions = np.asarray(self.actions_from(x, deterministic)).reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = self.env_actions(actions)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state

    def set_training_mode(self, mode: bool) -> None:
        """No dropout or batch norm here: nothing changes between training and evaluation."""

    def to(self, device: Any) -> ActorCriticPolicy:
        """Computation stays on the CPU; accepted for SB3 compatibility."""
        return self

    def parameters(self) -> list[np.ndarray]:
        """Per-parameter views into the flat buffer, in SB3's order."""
        return list(self.param_views.values())

    def state_views(self) -> OrderedDict[str, np.ndarray]:
        """SB3's state_dict layout, as views of our parameters. SB3 registers the features extractor three times
        (``features_extractor``, ``pi_features_extractor``, ``vf_features_extractor``: the same module when shared;
        else the vf one is its own): the same keys, in SB3's order, with the copies as views of the one we hold."""
        views = OrderedDict()
        extractor = [(name, v) for name, v in self.param_views.items() if name.startswith("features_extractor.")]
        vf_own = [(name, v) for name, v in self.param_views.items() if name.startswith("vf_features_extractor.")]
        head = [(name, v) for name, v in self.param_views.items() if name == "log_std"]
        views.update(head)
        views.update(extractor)
        views.update((f"pi_{name}", v) for name, v in extractor)
        views.update(vf_own or [(f"vf_{name}", v) for name, v in extractor])
        views.update((name, v) for name, v in self.param_views.items() if name not in views)
        return views

    def state_dict(self) -> OrderedDict[str, Any]:
        """SB3's state_dict: the same keys and shapes, as float32 torch tensors (copies)."""
        import torch  # only for SB3's file format and weight exchange

        return OrderedDict((name, torch.tensor(np.array(view, dtype=np.float32))) for name, view in self.state_views().items())

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Copy weights from an SB3 state_dict (torch tensors or arrays). The extractor's copies under
        ``pi_features_extractor`` (and ``vf_features_extractor`` when shared) are written to the same parameters."""
        views = self.state_views()
        missing = [k for k in views if k not in state_dict]
        unexpected = [k for k in state_dict if k not in views]
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}. The file was probably saved for another network "
                f"(net_arch, observation or action space); this policy has {list(views)}"
            )
        for name, value in state_dict.items():
            if name not in views:
                continue
            array = to_numpy(value)
            if array.shape != views[name].shape:
                raise RuntimeError(
                    f"Error(s) in loading state_dict for {type(self).__name__}: size mismatch for {name}: "
                    f"copying a param with shape {tuple(array.shape)}, the shape in the current model is "
                    f"{views[name].shape}"
                )
            views[name][...] = array


class ActorCriticCnnPolicy(ActorCriticPolicy):
    """CnnPolicy: ActorCriticPolicy on images, with NatureCNN as its features extractor (and, by default, no hidden
    layers after it: net_arch [], as SB3)."""

    default_features_extractor = NatureCNN


class MultiInputActorCriticPolicy(ActorCriticPolicy):
    """MultiInputPolicy: ActorCriticPolicy on Dict observations, with CombinedExtractor (a NatureCNN per image key,
    a flatten for the others)."""

    default_features_extractor = CombinedExtractor


class FusedActorCritic:
    """pi and vf as one MLP, for the rollout step: the first layers stacked (they read the same features), the later
    layers and the heads block-diagonal, so each layer is one matmul instead of two; the zero blocks add exact zeros.
    The weights are copies made at construction (``ActorCriticPolicy.rollout_net``)."""

    def __init__(self, policy: ActorCriticPolicy, deterministic: bool = False):
        self.policy, self.deterministic = policy, deterministic
        self.latent_dim_pi = policy.mlp_extractor.latent_dim_pi  # the last hidden layer is [latent_pi, latent_vf]
        self.activation = policy.mlp_extractor.activation
        self.layers = []
        pi, vf = policy.mlp_extractor.policy_net.layers, policy.mlp_extractor.value_net.layers
        for i, (a, b) in enumerate(zip([*pi, policy.action_net], [*vf, policy.value_net], strict=True)):
            if i == 0:
                weight = np.concatenate((a.weight, b.weight))
            else:
                weight = np.zeros((a.weight.shape[0] + b.weight.shape[0], a.weight.shape[1] + b.weight.shape[1]),
                                  dtype=policy.dtype)
                weight[: a.weight.shape[0], : a.weight.shape[1]] = a.weight
                weight[a.weight.shape[0] :, a.weight.shape[1] :] = b.weight
            self.layers.append((np.ascontiguousarray(weight.T), np.concatenate((a.bias, b.bias))))
        self.macs = sum(weight.size for weight, _ in self.layers)  # multiply-adds per sample

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.policy.features_extractor.forward(x)
        *hidden, (head_weight, head_bias) = self.layers
        for weight, bias in hidden:
            z = x @ weight
            z += bias
            x = self.activation.forward(z)
        out = x @ head_weight
        out += head_bias
        return self.policy.act(out[:, :-1], out[:, -1], x[:, : self.latent_dim_pi], self.deterministic)
