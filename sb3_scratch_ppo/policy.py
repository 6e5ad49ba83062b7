"""The actor-critic MLP behind "MlpPolicy": forward pass, hand-written backward pass, and SB3's policy API.

    features --pi MLP--> latent_pi --action_net--> distribution parameters --> a, log pi(a|s), H
    features --vf MLP--> latent_vf --value_net---> V(s)

The pi and vf MLPs are separate (no shared layers, as SB3 >= 1.8). All parameters live in
one flat buffer ``params`` with per-layer views, in the order and under the names of SB3's
``ActorCriticPolicy.state_dict()`` (torch layout: Linear weights are (out, in)); gradients live
in ``grads`` with the same layout, so clipping and Adam are a few array operations.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.utils import is_vectorized_observation

from sb3_scratch_ppo import preprocessing
from sb3_scratch_ppo.distributions import DiagGaussian, make_distribution
from sb3_scratch_ppo.optimizer import Adam


# --- activations: forward y = f(z), backward dL/dz from dL/dy --------------------------------

class Tanh:
    def forward(self, z): return np.tanh(z)
    def backprop(self, z, y, g):  # g * (1 - y^2), in one scratch array
        d = y * y
        np.subtract(1.0, d, out=d)
        d *= g
        return d


class ReLU:
    def forward(self, z): return np.maximum(z, 0.0)
    def backprop(self, z, y, g): return g * (z > 0)


class LeakyReLU:
    def __init__(self, negative_slope: float = 0.01): self.slope = negative_slope
    def forward(self, z): return np.where(z > 0, z, self.slope * z)
    def backprop(self, z, y, g): return g * np.where(z > 0, 1.0, self.slope).astype(z.dtype)


class ELU:
    def __init__(self, alpha: float = 1.0): self.alpha = alpha
    def forward(self, z): return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0.0)))
    def backprop(self, z, y, g): return g * np.where(z > 0, 1.0, y + self.alpha)


class Sigmoid:
    def forward(self, z): return 1.0 / (1.0 + np.exp(-z))
    def backprop(self, z, y, g): return g * y * (1.0 - y)


class SiLU:
    def forward(self, z): return z / (1.0 + np.exp(-z))
    def backprop(self, z, y, g):
        s = 1.0 / (1.0 + np.exp(-z))
        return g * s * (1.0 + z * (1.0 - s))


class Identity:
    def forward(self, z): return z
    def backprop(self, z, y, g): return g


# torch.nn activation classes, as SB3 users pass them, by class name.
ACTIVATIONS = {"Tanh": Tanh, "ReLU": ReLU, "LeakyReLU": LeakyReLU, "ELU": ELU, "Sigmoid": Sigmoid, "SiLU": SiLU, "Identity": Identity}


def make_activation(activation_fn: Any):
    """Our activation for a torch.nn activation class (None: Tanh, SB3's default)."""
    if activation_fn is None:
        return Tanh()
    name = getattr(activation_fn, "__name__", None)
    if not isinstance(activation_fn, type) or name not in ACTIVATIONS:
        raise ValueError(
            f"activation_fn={activation_fn!r} is not supported; pass one of the classes "
            f"torch.nn.{{{', '.join(ACTIVATIONS)}}} (the class, not an instance), e.g. activation_fn=nn.ReLU"
        )
    return ACTIVATIONS[name]()


# --- initialisation, as torch's -------------------------------------------------------------

def orthogonal(shape: tuple[int, int], gain: float, rng: np.random.Generator) -> np.ndarray:
    """torch.nn.init.orthogonal_: QR of a Gaussian matrix, signs fixed by diag(R), times gain."""
    rows, cols = shape
    a = rng.standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q


def torch_default_linear(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """torch.nn.Linear's default init: weight and bias uniform in +-1/sqrt(fan_in)."""
    bound = 1.0 / math.sqrt(shape[1]) if shape[1] > 0 else 0.0
    return rng.uniform(-bound, bound, shape), rng.uniform(-bound, bound, shape[0])


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


class Linear(NamedTuple):
    """One fully connected layer z = x W^T + b, as views into the flat parameter and gradient buffers."""

    weight: np.ndarray  # (out, in), torch's layout
    bias: np.ndarray
    g_weight: np.ndarray
    g_bias: np.ndarray

    def forward(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.weight.T
        z += self.bias
        return z

    def backprop(self, x: np.ndarray, g: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """From dL/dz (B, out) and the input x (B, in): write dL/dW = g^T x and dL/db = sum_B g; return dL/dx = g W."""
        np.matmul(g.T, x, out=self.g_weight)
        np.dot(_ones(len(g), g.dtype), g, out=self.g_bias)  # sum over the batch; 4x faster than g.sum(axis=0)
        if not need_input_grad:
            return None
        if len(self.weight) == 1:  # one output (value_net): an outer product; BLAS's matmul with K=1 is 3x slower
            return g * self.weight
        return g @ self.weight


@functools.lru_cache(maxsize=8)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


# The fused rollout MLP (ActorCriticPolicy.fused_for_rollout) is used while batch size x its weights stays
# below this many multiply-adds: past it, the block-diagonal zeros cost more than the calls saved.
FUSED_MAX_MACS = 150_000

# Keyword arguments of SB3's ActorCriticPolicy that this policy does not implement (beyond their defaults).
_UNSUPPORTED_DEFAULTS = {"squash_output": False, "features_extractor_kwargs": None}


class ActorCriticPolicy:
    """SB3's ActorCriticPolicy for MlpPolicy, in NumPy. Constructed by ScratchPPO from ``policy_kwargs``.

    Accepted as in SB3 and without effect here: ``full_std`` and ``use_expln`` (gSDE only) and
    ``share_features_extractor`` (the flatten extractor has no parameters to share).
    """

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
        normalize_images: bool = True,
        features_extractor_class: Any = None,
        share_features_extractor: bool = True,
        optimizer_class: Any = None,
        optimizer_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        dtype: Any = np.float32,
        **unsupported: Any,
    ):
        for key, value in unsupported.items():
            if key not in _UNSUPPORTED_DEFAULTS:
                raise TypeError(f"policy_kwargs: unexpected keyword argument {key!r} for MlpPolicy")
            if value != _UNSUPPORTED_DEFAULTS[key]:
                raise NotImplementedError(f"policy_kwargs: {key}={value!r} is not implemented by ScratchPPO's MlpPolicy")
        if use_sde:
            raise NotImplementedError("use_sde=True (gSDE) is not implemented yet in ScratchPPO; use use_sde=False")
        if features_extractor_class is not None and getattr(features_extractor_class, "__name__", "") != "FlattenExtractor":
            raise NotImplementedError(
                f"policy_kwargs: features_extractor_class={features_extractor_class!r} is not supported; "
                "MlpPolicy flattens the observation (FlattenExtractor)"
            )
        if optimizer_class is not None and getattr(optimizer_class, "__name__", "") != "Adam":
            raise NotImplementedError(f"policy_kwargs: optimizer_class={optimizer_class!r} is not supported; only Adam")
        optimizer_kwargs = {"eps": 1e-5} if optimizer_kwargs is None else dict(optimizer_kwargs)
        bad = set(optimizer_kwargs) - {"eps", "betas"}
        if bad:
            raise NotImplementedError(f"policy_kwargs: optimizer_kwargs {sorted(bad)} are not supported; only eps and betas")

        self.observation_space = observation_space
        self.action_space = action_space
        self.normalize_images = normalize_images
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.ortho_init = ortho_init
        self.log_std_init = log_std_init
        self.net_arch = net_arch
        self.activation = make_activation(activation_fn)
        self.features_dim = preprocessing.features_dim(observation_space)
        self.dist = make_distribution(action_space)
        self.has_log_std = isinstance(self.dist, DiagGaussian)
        pi_sizes, vf_sizes = parse_net_arch(net_arch)

        # The parameter layout, in SB3's state_dict order.
        shapes: list[tuple[str, tuple[int, ...]]] = []
        if self.has_log_std:
            shapes.append(("log_std", (self.dist.out_dim,)))
        for prefix, sizes in (("mlp_extractor.policy_net", pi_sizes), ("mlp_extractor.value_net", vf_sizes)):
            last = self.features_dim
            for i, size in enumerate(sizes):
                shapes += [(f"{prefix}.{2 * i}.weight", (size, last)), (f"{prefix}.{2 * i}.bias", (size,))]
                last = size
        latent_pi = pi_sizes[-1] if pi_sizes else self.features_dim
        latent_vf = vf_sizes[-1] if vf_sizes else self.features_dim
        shapes += [("action_net.weight", (self.dist.out_dim, latent_pi)), ("action_net.bias", (self.dist.out_dim,))]
        shapes += [("value_net.weight", (1, latent_vf)), ("value_net.bias", (1,))]
        self.shapes = OrderedDict(shapes)

        total = sum(int(np.prod(s)) for s in self.shapes.values())
        self.params = np.zeros(total, dtype=self.dtype)
        self.grads = np.zeros(total, dtype=self.dtype)
        self.p: dict[str, np.ndarray] = {}  # name -> view into params
        self.g: dict[str, np.ndarray] = {}  # name -> view into grads
        offset = 0
        for name, shape in self.shapes.items():
            size = int(np.prod(shape))
            self.p[name] = self.params[offset : offset + size].reshape(shape)
            self.g[name] = self.grads[offset : offset + size].reshape(shape)
            offset += size
        self.pi_layers = [f"mlp_extractor.policy_net.{2 * i}" for i in range(len(pi_sizes))]
        self.vf_layers = [f"mlp_extractor.value_net.{2 * i}" for i in range(len(vf_sizes))]
        linear = lambda name: Linear(self.p[f"{name}.weight"], self.p[f"{name}.bias"],  # noqa: E731
                                     self.g[f"{name}.weight"], self.g[f"{name}.bias"])
        self.pi_net = [linear(name) for name in self.pi_layers]
        self.vf_net = [linear(name) for name in self.vf_layers]
        self.action_net, self.value_net = linear("action_net"), linear("value_net")
        self._packed: list[tuple[np.ndarray, np.ndarray]] | None = None  # see fused_for_rollout
        self._packed_macs = 0
        self._init_weights()

        self.optimizer = Adam(self.params, self.grads, list(self.p.values()), lr=lr_schedule(1), **optimizer_kwargs)

    # --- construction ----------------------------------------------------------------------

    def _init_weights(self) -> None:
        """SB3's init: orthogonal with gain sqrt(2) for hidden layers, 0.01 for action_net, 1 for value_net; biases 0."""
        gains = {name: math.sqrt(2) for name in self.pi_layers + self.vf_layers}
        gains.update({"action_net": 0.01, "value_net": 1.0})
        for layer, gain in gains.items():
            shape = self.shapes[f"{layer}.weight"]
            if self.ortho_init:
                self.p[f"{layer}.weight"][:] = orthogonal(shape, gain, self.rng)
                self.p[f"{layer}.bias"][:] = 0.0
            else:
                self.p[f"{layer}.weight"][:], self.p[f"{layer}.bias"][:] = torch_default_linear(shape, self.rng)
        if self.has_log_std:
            self.p["log_std"][:] = self.log_std_init

    # --- forward and backward --------------------------------------------------------------

    def _mlp(self, x: np.ndarray, layers: list[Linear], cache: list | None) -> np.ndarray:
        for layer in layers:
            z = layer.forward(x)
            y = self.activation.forward(z)
            if cache is not None:
                cache.append((layer, x, z, y))
            x = y
        return x

    def _mlp_backprop(self, g: np.ndarray, cache: list) -> None:
        """Backpropagate dL/d(latent) through the cached layers, writing weight and bias gradients."""
        for i in range(len(cache) - 1, -1, -1):
            layer, x, z, y = cache[i]
            g = layer.backprop(x, self.activation.backprop(z, y, g), need_input_grad=i > 0)

    @property
    def log_std(self) -> np.ndarray | None:
        return self.p["log_std"] if self.has_log_std else None

    def forward(self, features: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rollout step: sampled (or mode) actions, V(s) (B,), and log pi(a|s) (B,)."""
        if self._packed is not None and len(features) * self._packed_macs <= FUSED_MAX_MACS:
            out, values = self._fused_forward(features)
        else:
            out = self.action_net_output(features)
            values = self.predict_values(features)
        if deterministic:
            actions = self.dist.mode(out, self.log_std)
            log_prob = self.dist.log_prob_entropy(out, self.log_std, actions)[0]
        else:
            actions, log_prob = self.dist.sample_log_prob(out, self.log_std, self.rng)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob

    # --- the rollout step with pi and vf as one MLP ---------------------------------------------

    @contextlib.contextmanager
    def fused_for_rollout(self):
        """Within this block, ``forward`` on small batches runs pi and vf as one MLP: the first layers
        stacked (they read the same features), the later layers and the heads block-diagonal, so each
        layer is one matmul instead of two. With a few envs per step, NumPy's per-call cost outweighs
        the arithmetic, so halving the calls pays; the zero blocks add exact zeros. The fused weights
        are copies made on entry: the parameters must not change inside (collect_rollouts)."""
        if len(self.pi_net) == len(self.vf_net):
            self._packed = []
            for i, (pi, vf) in enumerate(zip([*self.pi_net, self.action_net], [*self.vf_net, self.value_net])):
                if i == 0:
                    weight = np.concatenate((pi.weight, vf.weight))
                else:
                    weight = np.zeros((pi.weight.shape[0] + vf.weight.shape[0], pi.weight.shape[1] + vf.weight.shape[1]),
                                      dtype=self.dtype)
                    weight[: pi.weight.shape[0], : pi.weight.shape[1]] = pi.weight
                    weight[pi.weight.shape[0] :, pi.weight.shape[1] :] = vf.weight
                self._packed.append((np.ascontiguousarray(weight.T), np.concatenate((pi.bias, vf.bias))))
            self._packed_macs = sum(weight.size for weight, _ in self._packed)
        try:
            yield
        finally:
            self._packed = None

    def _fused_forward(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """action_net's output (B, out_dim) and V(s) (B,), through the fused MLP."""
        *hidden, (head_weight, head_bias) = self._packed
        x = features
        for weight, bias in hidden:
            z = x @ weight
            z += bias
            x = self.activation.forward(z)
        out = x @ head_weight
        out += head_bias
        return out[:, :-1], out[:, -1]

    def predict_values(self, features: np.ndarray) -> np.ndarray:
        return self.value_net.forward(self._mlp(features, self.vf_net, None))[:, 0]

    def action_net_output(self, features: np.ndarray) -> np.ndarray:
        return self.action_net.forward(self._mlp(features, self.pi_net, None))

    def evaluate_actions(self, features: np.ndarray, actions: np.ndarray):
        """Training step: V(s), log pi(a|s), H(pi(.|s)), each (B,), and the cache for ``backprop``."""
        pi_cache: list = []
        vf_cache: list = []
        latent_pi = self._mlp(features, self.pi_net, pi_cache)
        latent_vf = self._mlp(features, self.vf_net, vf_cache)
        out = self.action_net.forward(latent_pi)
        values = self.value_net.forward(latent_vf)[:, 0]
        log_prob, entropy, dist_ctx = self.dist.log_prob_entropy(out, self.log_std, actions)
        cache = (features, latent_pi, latent_vf, pi_cache, vf_cache, dist_ctx)
        return values, log_prob, entropy, cache

    def backprop(self, cache, g_values: np.ndarray, g_log_prob: np.ndarray, g_entropy: np.ndarray | None) -> None:
        """Fill ``grads`` with dL/dparams, given dL/dV, dL/dlog_prob and dL/dentropy, each (B,) (dL/dentropy may be None: 0)."""
        features, latent_pi, latent_vf, pi_cache, vf_cache, dist_ctx = cache
        g_out, g_log_std = self.dist.backprop(dist_ctx, g_log_prob, g_entropy)
        if g_log_std is not None:
            self.g["log_std"][:] = g_log_std
        g_latent_pi = self.action_net.backprop(latent_pi, g_out, need_input_grad=bool(pi_cache))
        g_latent_vf = self.value_net.backprop(latent_vf, g_values[:, None], need_input_grad=bool(vf_cache))
        self._mlp_backprop(g_latent_pi, pi_cache)
        self._mlp_backprop(g_latent_vf, vf_cache)

    # --- SB3's policy API --------------------------------------------------------------------

    def obs_to_features(self, observation: Any) -> tuple[np.ndarray, bool]:
        """SB3's obs_to_tensor: accept one observation or a batch; return features and whether it was a batch."""
        if isinstance(observation, dict):
            raise ValueError(
                f"predict() got a dict observation, but the observation space is {self.observation_space}; "
                "MlpPolicy takes an array (MultiInputPolicy, for Dict spaces, is not implemented)"
            )
        observation = np.array(observation)
        vectorized = is_vectorized_observation(observation, self.observation_space)
        observation = observation.reshape((-1, *self.observation_space.shape))
        return preprocessing.preprocess(observation, self.observation_space, self.normalize_images).astype(self.dtype, copy=False), vectorized

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False):
        """SB3's BasePolicy.predict: actions for one observation or a batch, Box actions clipped to the bounds."""
        if isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict):
            raise ValueError(
                "You have passed a tuple to the predict() function instead of a Numpy array or a Dict. "
                "You are probably mixing Gym API with SB3 VecEnv API: `obs, info = env.reset()` (Gym) "
                "vs `obs = vec_env.reset()` (SB3 VecEnv)."
            )
        features, vectorized = self.obs_to_features(observation)
        out = self.action_net_output(features)
        if deterministic:
            actions = self.dist.mode(out, self.log_std)
        else:
            actions = self.dist.sample(out, self.log_std, self.rng)
        actions = np.asarray(actions).reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state

    def set_training_mode(self, mode: bool) -> None:
        """No dropout or batch norm here: nothing changes between training and evaluation."""

    def to(self, device: Any) -> "ActorCriticPolicy":
        """Computation stays on the CPU; accepted for SB3 compatibility."""
        return self

    def parameters(self) -> list[np.ndarray]:
        """Per-parameter views into the flat buffer, in SB3's order."""
        return list(self.p.values())

    def state_dict(self) -> "OrderedDict[str, Any]":
        """SB3 MlpPolicy's state_dict: the same keys and shapes, as float32 torch tensors (copies)."""
        import torch  # only for SB3's file format and weight exchange

        return OrderedDict((name, torch.tensor(np.array(view, dtype=np.float32))) for name, view in self.p.items())

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Copy weights from an SB3 MlpPolicy state_dict (torch tensors or arrays)."""
        missing = [k for k in self.p if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self.p]
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}. The file was probably saved for another network "
                f"(net_arch, observation or action space); this policy has {list(self.p)}"
            )
        for name, value in state_dict.items():
            if name not in self.p:
                continue
            array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            if array.shape != self.p[name].shape:
                raise RuntimeError(
                    f"Error(s) in loading state_dict for {type(self).__name__}: size mismatch for {name}: "
                    f"copying a param with shape {tuple(array.shape)}, the shape in the current model is "
                    f"{self.p[name].shape}"
                )
            self.p[name][...] = array
