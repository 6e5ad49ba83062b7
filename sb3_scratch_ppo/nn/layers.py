"""The from-scratch building blocks of the networks: layers with forward and backprop, activations, torch's initialisers,
and the flat buffers all parameters and gradients live in.

Every layer has ``forward`` and a hand-written ``backprop`` (from dL/d(output) to dL/d(input), writing its parameter
gradients); each is checked against torch autograd in ``tests/test_gradients.py``. As SB3's ``torch_layers.py`` is
for SB3's policies, this is the one place the policy's pieces (``extractors.py``, ``policy.py``) are built from.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np

# --- activations: forward y = f(z), backprop dL/dz from dL/dy -----------------------------------------


class Tanh:
    def forward(self, z):
        return np.tanh(z)

    def backprop(self, z, y, g):  # g * (1 - y^2), in one scratch array
        d = y * y
        np.subtract(1.0, d, out=d)
        d *= g
        return d


class ReLU:
    def forward(self, z):
        return np.maximum(z, 0.0)

    def backprop(self, z, y, g):
        return g * (z > 0)


class LeakyReLU:
    def __init__(self, negative_slope: float = 0.01):
        self.slope = negative_slope

    def forward(self, z):
        return np.where(z > 0, z, self.slope * z)

    def backprop(self, z, y, g):
        return g * np.where(z > 0, 1.0, self.slope).astype(z.dtype)


class ELU:
    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def forward(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0.0)))

    def backprop(self, z, y, g):
        return g * np.where(z > 0, 1.0, y + self.alpha)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Sigmoid:
    def forward(self, z):
        return sigmoid(z)

    def backprop(self, z, y, g):
        return g * y * (1.0 - y)


class SiLU:
    def forward(self, z):
        return z / (1.0 + np.exp(-z))

    def backprop(self, z, y, g):
        s = sigmoid(z)
        return g * s * (1.0 + z * (1.0 - s))


class Identity:
    def forward(self, z):
        return z

    def backprop(self, z, y, g):
        return g


# torch.nn activation classes, as SB3 users pass them, by class name.
ACTIVATIONS = {cls.__name__: cls for cls in (Tanh, ReLU, LeakyReLU, ELU, Sigmoid, SiLU, Identity)}


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


# --- initialisation, as torch's ------------------------------------------------------------------------


def orthogonal(shape: tuple[int, ...], gain: float, rng: np.random.Generator) -> np.ndarray:
    """torch.nn.init.orthogonal_ for a weight of any shape: flattened to (shape[0], rest) as torch does (so conv
    weights too), QR of a Gaussian matrix, signs fixed by diag(R), times gain."""
    rows = shape[0]
    cols = math.prod(shape[1:])
    a = rng.standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape)


def torch_default_init(shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """torch's default init of nn.Linear and nn.Conv2d (kaiming_uniform_ with a = sqrt(5)): weight and bias uniform
    in +-1/sqrt(fan_in), fan_in = the product of the weight's shape after the first axis."""
    fan_in = math.prod(shape[1:])
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, shape), rng.uniform(-bound, bound, shape[0])


# --- the flat parameter and gradient buffers ------------------------------------------------------------


class FlatParameters:
    """All parameters of a network in one flat array, all gradients in a second with the same layout, and named
    views of both, in the given order (SB3's state_dict order). Gradient clipping and Adam are then a few array
    operations on the whole network, and each layer reads and writes its own views."""

    def __init__(self, shapes: OrderedDict[str, tuple[int, ...]], dtype: Any):
        self.shapes = OrderedDict(shapes)
        total = sum(math.prod(shape) for shape in self.shapes.values())
        self.data = np.zeros(total, dtype=dtype)
        self.grad = np.zeros(total, dtype=dtype)
        self.views: dict[str, np.ndarray] = {}  # name -> view into data
        self.grad_views: dict[str, np.ndarray] = {}  # name -> view into grad
        offset = 0
        for name, shape in self.shapes.items():
            size = math.prod(shape)
            self.views[name] = self.data[offset : offset + size].reshape(shape)
            self.grad_views[name] = self.grad[offset : offset + size].reshape(shape)
            offset += size

    def linear(self, name: str) -> Linear:
        """The Linear layer whose weight and bias are ``name.weight`` and ``name.bias``."""
        v, g = self.views, self.grad_views
        return Linear(v[f"{name}.weight"], v[f"{name}.bias"], g[f"{name}.weight"], g[f"{name}.bias"])

    def conv2d(self, name: str, stride: int | tuple[int, int]) -> Conv2d:
        """The Conv2d layer whose weight and bias are ``name.weight`` and ``name.bias``."""
        v, g = self.views, self.grad_views
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        return Conv2d(v[f"{name}.weight"], v[f"{name}.bias"], g[f"{name}.weight"], g[f"{name}.bias"], (sh, sw))


def linear_shapes(name: str, in_features: int, out_features: int) -> list[tuple[str, tuple[int, ...]]]:
    """The parameters of torch's nn.Linear(in_features, out_features) registered as ``name``."""
    return [(f"{name}.weight", (out_features, in_features)), (f"{name}.bias", (out_features,))]


def conv2d_shapes(
    name: str, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int]
) -> list[tuple[str, tuple[int, ...]]]:
    """The parameters of torch's nn.Conv2d(in_channels, out_channels, kernel_size) registered as ``name``."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return [(f"{name}.weight", (out_channels, in_channels, kh, kw)), (f"{name}.bias", (out_channels,))]


# --- layers -----------------------------------------------------------------------------------------------


class Linear(NamedTuple):
    """One fully connected layer z = x W^T + b, as views into the flat parameter and gradient buffers."""

    weight: np.ndarray  # (out, in), torch's layout
    bias: np.ndarray
    g_weight: np.ndarray
    g_bias: np.ndarray

    # --8<-- [start:linear]
    def forward(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.weight.T
        z += self.bias
        return z

    def backprop(self, x: np.ndarray, g: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """From dL/dz (B, out) and the input x (B, in): write dL/dW = g^T x and dL/db = sum_B g; return dL/dx = g W.

        The gradients are overwritten, not accumulated: one backprop fills them for one minibatch."""
        np.matmul(g.T, x, out=self.g_weight)
        np.dot(_ones(len(g), g.dtype), g, out=self.g_bias)  # the batch sum as a dot with ones: faster than g.sum(0)
        if not need_input_grad:
            return None
        if len(self.weight) == 1:  # one output (value_net): an outer product; BLAS's matmul with K=1 is slow
            return g * self.weight
        return g @ self.weight

    # --8<-- [end:linear]


@functools.lru_cache(maxsize=8)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


class LayerStep(NamedTuple):
    """What MLP's backprop reads of one layer: the layer, its input x, its output z and y = activation(z)."""

    layer: Any
    x: np.ndarray
    z: np.ndarray
    y: np.ndarray


class ConvCache(NamedTuple):
    """What Conv2d's backprop reads: the im2col columns and the input's (B, H, W, C) shape."""

    cols: np.ndarray
    x_shape: tuple[int, ...]


class MLP:
    """Linear layers, each followed by the activation (SB3's ``nn.Sequential`` of Linear and activation pairs)."""

    def __init__(self, layers: list[Linear], activation: Any):
        self.layers = layers
        self.activation = activation

    def forward(self, x: np.ndarray, cache: list | None = None) -> np.ndarray:
        """The output; with a list as ``cache``, what ``backprop`` needs is appended to it."""
        for layer in self.layers:
            z = layer.forward(x)
            y = self.activation.forward(z)
            if cache is not None:
                cache.append(LayerStep(layer, x, z, y))
            x = y
        return x

    # --8<-- [start:mlp_backprop]
    def backprop(self, g: np.ndarray, cache: list, need_input_grad: bool = False) -> np.ndarray | None:
        """Backpropagate dL/d(output) through the cached layers, writing their weight and bias gradients; return
        dL/d(input) if asked (with no layers, the input is the output)."""
        for i in range(len(cache) - 1, -1, -1):
            step = cache[i]
            g_z = self.activation.backprop(step.z, step.y, g)
            g = step.layer.backprop(step.x, g_z, need_input_grad=i > 0 or need_input_grad)
        return g if need_input_grad else None

    # --8<-- [end:mlp_backprop]


class Conv2d(NamedTuple):
    """torch's nn.Conv2d with padding 0 (as NatureCNN uses), on channel-last batches (B, H, W, C).

    Channel-last inside the network makes im2col cheap: ``sliding_window_view`` gives every kernel window as a
    view, and one copy lays the windows out as the rows of a matrix, each row (kh, kw, C) with C innermost, so the
    copy reads whole runs of kw * C neighbouring values. The convolution is then one matrix product with the
    weight's columns in that same order, and its gradients two more, with no Python loop over samples or
    positions. The weight keeps torch's layout (out, C, kh, kw), so state_dicts move as they are; the caller
    transposes the observation (B, C, H, W) to channel-last once, and back before a flatten, which in torch runs
    over (C, H, W).
    """

    weight: np.ndarray  # (out, C, kh, kw), torch's layout
    bias: np.ndarray
    g_weight: np.ndarray
    g_bias: np.ndarray
    stride: tuple[int, int]

    def columns(self, x: np.ndarray) -> np.ndarray:
        """im2col: (B, H, W, C) -> (B * H_out * W_out, kh * kw * C), one row per output position."""
        kh, kw = self.weight.shape[2:]
        sh, sw = self.stride
        windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
        b, ho, wo = windows.shape[:3]
        return windows.transpose(0, 1, 2, 4, 5, 3).reshape(b * ho * wo, -1)  # the one copy: windows overlap

    def matrix(self) -> np.ndarray:
        """The weight as (out, kh * kw * C), the columns' order (a small copy)."""
        return self.weight.transpose(0, 2, 3, 1).reshape(len(self.weight), -1)

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int]:
        (kh, kw), (sh, sw) = self.weight.shape[2:], self.stride
        return x_shape[0], (x_shape[1] - kh) // sh + 1, (x_shape[2] - kw) // sw + 1

    def forward(self, x: np.ndarray, cache: list | None = None) -> np.ndarray:
        """(B, H, W, C) -> (B, H_out, W_out, out) with H_out = (H - kh) // sh + 1; with a list as ``cache``, what
        ``backprop`` needs is appended to it."""
        cols = self.columns(x)
        z = cols @ self.matrix().T
        z += self.bias
        if cache is not None:
            cache.append(ConvCache(cols, x.shape))
        return z.reshape(*self.out_shape(x.shape), -1)

    def backprop(self, g: np.ndarray, cache: ConvCache, need_input_grad: bool = True) -> np.ndarray | None:
        """From dL/dz (B, H_out, W_out, out): write dL/dW = g^T cols and dL/db = sum g; return dL/dx (B, H, W, C),
        the columns' gradient added back onto the input window by window (col2im: kh * kw array additions).

        The gradients are overwritten, not accumulated, as in ``Linear.backprop``."""
        cols, x_shape = cache
        out, c, kh, kw = self.weight.shape
        b, ho, wo = g.shape[:3]
        g2 = g.reshape(-1, out)
        self.g_weight[...] = (g2.T @ cols).reshape(out, kh, kw, c).transpose(0, 3, 1, 2)
        np.dot(_ones(len(g2), g2.dtype), g2, out=self.g_bias)
        if not need_input_grad:
            return None
        sh, sw = self.stride
        g_cols = (g2 @ self.matrix()).reshape(b, ho, wo, kh, kw, c)
        g_x = np.zeros(x_shape, dtype=g.dtype)
        for i in range(kh):
            for j in range(kw):
                g_x[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :] += g_cols[:, :, :, i, j]
        return g_x
