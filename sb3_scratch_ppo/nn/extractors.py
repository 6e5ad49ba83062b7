"""The features extractors, the policy's first stage, as SB3's ``torch_layers.py`` names them.

    observation --preprocess--> network input --features_extractor--> features --mlp_extractor--> latent_pi, latent_vf

- ``FlattenExtractor`` (MlpPolicy): preprocessing as SB3's ``preprocess_obs`` (one-hot for discrete spaces, floats
  for Box), then flatten; no parameters.
- ``NatureCNN`` (CnnPolicy): the DQN Nature paper's three convolutions and a Linear, all with ReLU, on
  channel-first images (divided by 255 when ``normalize_images``).
- ``CombinedExtractor`` (MultiInputPolicy): per key of a Dict space, in the space's order, a NatureCNN for an
  image and a flatten for anything else; the features concatenated.
- ``extractor_class`` / ``make_features_extractor``: SB3's extractor classes (by name) to these, with their kwargs;
  a custom NumPy extractor (``base_extractor.py``: the protocol all of these follow) as it is.

The second stage, ``MlpExtractor`` (the pi and vf towers), is in ``mlp_extractor.py``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces

from sb3_scratch_ppo.nn import preprocessing
from sb3_scratch_ppo.nn.base_extractor import BaseFeaturesExtractor
from sb3_scratch_ppo.nn.layers import Conv2d, ConvCache, FlatParameters, Linear, ReLU, conv2d_shapes, linear_shapes


class ConvStep(NamedTuple):
    """What NatureCNN's backprop reads of one convolution + ReLU: the convolution's cache, its output z, y = ReLU(z)."""

    conv: ConvCache
    z: np.ndarray
    y: np.ndarray


class CnnHead(NamedTuple):
    """... and of its head: the flattened last activation, the linear layer's output z, the features, and the last
    activation's (B, H, W, C) shape."""

    flat: np.ndarray
    z: np.ndarray
    features: np.ndarray
    shape: tuple[int, ...]


class FlattenExtractor:
    """MlpPolicy's features extractor: the preprocessed observation, flattened. Nothing to learn."""

    def __init__(self, observation_space: spaces.Space, normalize_images: bool = True):
        self.observation_space = observation_space
        self.normalize_images = normalize_images
        self.features_dim = preprocessing.features_dim(observation_space)

    def input_spec(self, dtype) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of one preprocessed observation, as the rollout stores it."""
        return (self.features_dim,), np.dtype(dtype)

    def preprocess(self, obs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """A batch of raw observations -> the float32 network input (B, features_dim), written into ``out`` if given."""
        return preprocessing.preprocess(obs, self.observation_space, self.normalize_images, out=out)

    def parameter_shapes(self, prefix: str) -> list[tuple[str, tuple[int, ...]]]:
        return []  # nothing to learn

    def bind(self, params: FlatParameters, prefix: str) -> None:
        pass

    def forward(self, x: np.ndarray, cache: list | None = None) -> np.ndarray:
        return x.reshape(len(x), -1)

    def backprop(self, g: np.ndarray, cache: list) -> None:
        pass


class NatureCNN:
    """SB3's NatureCNN: Conv2d(C, 32, 8, stride 4) -> ReLU -> Conv2d(32, 64, 4, stride 2) -> ReLU ->
    Conv2d(64, 64, 3, stride 1) -> ReLU -> flatten over (C, H, W) -> Linear(n_flatten, features_dim) -> ReLU.

    Its parameters live in the policy's flat buffers under ``{prefix}.cnn.{0,2,4}`` and ``{prefix}.linear.0``, as
    SB3 names them. Inside, the convolutions run channel-last (``layers.Conv2d``): the input is transposed once
    at the start, and back before the flatten so the Linear sees torch's order.
    """

    LAYERS = (("cnn.0", 32, 8, 4), ("cnn.2", 64, 4, 2), ("cnn.4", 64, 3, 1))  # name, out channels, kernel, stride
    convs: list[Conv2d]  # set by bind()
    linear: Linear

    def __init__(
        self,
        observation_space: spaces.Space,
        features_dim: int = 512,
        normalized_image: bool = False,
        normalize_images: bool = True,
    ):
        assert isinstance(observation_space, spaces.Box), (
            f"NatureCNN must be used with a gym.spaces.Box observation space, not {observation_space}"
        )
        assert preprocessing.is_image_space(observation_space, normalized_image=normalized_image), (
            f"You should use NatureCNN only with images not with {observation_space}\n"
            "(you are probably using `CnnPolicy` instead of `MlpPolicy` or `MultiInputPolicy`)\n"
            "If you are using `VecNormalize` or already normalized channel-first images "
            "you should pass `normalize_images=False`"
        )
        self.observation_space = observation_space
        self.normalize_images = normalize_images
        self.features_dim = features_dim
        channels, height, width = observation_space.shape
        self.in_channels = [channels] + [out for _, out, _, _ in self.LAYERS[:-1]]
        for _, _, kernel, stride in self.LAYERS:
            height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
        if height < 1 or width < 1:  # torch fails in the first forward; say why
            raise ValueError(
                f"NatureCNN: images of shape {observation_space.shape} are too small for its kernels (the smallest is 36 x 36)"
            )
        self.n_flatten = 64 * height * width
        self.relu = ReLU()

    def input_spec(self, dtype) -> tuple[tuple[int, ...], np.dtype]:
        """The rollout stores the images raw (uint8 for image spaces: a quarter of float32's memory)."""
        return self.observation_space.shape, self.observation_space.dtype

    def preprocess(self, obs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Raw images (B, C, H, W), as they are: ``forward`` makes them floats (into ``out`` if given)."""
        if out is None:
            return np.asarray(obs, dtype=self.observation_space.dtype)
        out[...] = obs
        return out

    def to_float(self, x: np.ndarray) -> np.ndarray:
        """SB3's preprocess_obs for images: ``obs.float() / 255`` when normalizing (exact in float32: the same
        division), else ``obs.float()``; in the weights' dtype."""
        dtype = self.linear.weight.dtype
        if self.normalize_images and preprocessing.is_image_space(self.observation_space):
            return np.divide(x, dtype.type(255.0), dtype=dtype)
        return x.astype(dtype, copy=False)

    def parameter_shapes(self, prefix: str) -> list[tuple[str, tuple[int, ...]]]:
        shapes = []
        for (name, out, kernel, _), in_channels in zip(self.LAYERS, self.in_channels, strict=True):
            shapes += conv2d_shapes(f"{prefix}.{name}", in_channels, out, kernel)
        return shapes + linear_shapes(f"{prefix}.linear.0", self.n_flatten, self.features_dim)

    def bind(self, params: FlatParameters, prefix: str) -> None:
        self.convs = [params.conv2d(f"{prefix}.{name}", stride) for name, _, _, stride in self.LAYERS]
        self.linear = params.linear(f"{prefix}.linear.0")

    def forward(self, x: np.ndarray, cache: list | None = None) -> np.ndarray:
        """(B, C, H, W) raw images -> features (B, features_dim); with a list as ``cache``, what ``backprop``
        needs is appended to it: a ``ConvStep`` per convolution, then the ``CnnHead``."""
        h = np.ascontiguousarray(self.to_float(x).transpose(0, 2, 3, 1))  # channel-last, in one copy
        for conv in self.convs:
            conv_cache: list | None = None if cache is None else []
            z = conv.forward(h, conv_cache)
            h = self.relu.forward(z)
            if cache is not None:
                cache.append(ConvStep(conv_cache[0], z, h))
        flat = h.transpose(0, 3, 1, 2).reshape(len(h), -1)  # torch's Flatten runs over (C, H, W)
        z = self.linear.forward(flat)
        features = self.relu.forward(z)
        if cache is not None:
            cache.append(CnnHead(flat, z, features, h.shape))
        return features

    def backprop(self, g: np.ndarray, cache: list, need_input_grad: bool = False) -> np.ndarray | None:
        """From dL/dfeatures (B, features_dim): write every parameter's gradient; return dL/d(float image) if asked."""
        *steps, head = cache
        g = self.linear.backprop(head.flat, self.relu.backprop(head.z, head.features, g))
        b, h, w, c = head.shape
        g = g.reshape(b, c, h, w).transpose(0, 2, 3, 1)
        for i in range(len(self.convs) - 1, -1, -1):
            step = steps[i]
            g = self.convs[i].backprop(
                self.relu.backprop(step.z, step.y, g), step.conv, need_input_grad=i > 0 or need_input_grad
            )
        return None if g is None else g.transpose(0, 3, 1, 2)


class CombinedExtractor:
    """SB3's CombinedExtractor for Dict observations: per key, in ``observation_space.spaces`` order, a NatureCNN
    (``features_dim=cnn_output_dim``) for an image and a flatten for anything else; the features concatenated.

    Observations are dicts of arrays; ``preprocess`` treats each key as SB3's ``preprocess_obs`` does (images / 255,
    one-hots, floats), keeping images (B, C, H, W) for their CNN and flattening the rest. Parameters:
    ``{prefix}.extractors.{key}.cnn...`` for each image key, as in SB3's state_dict."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        cnn_output_dim: int = 256,
        normalized_image: bool = False,
        normalize_images: bool = True,
    ):
        self.observation_space = observation_space
        self.normalize_images = normalize_images
        self.extractors: dict[str, NatureCNN | FlattenExtractor] = {}
        for key, subspace in observation_space.spaces.items():
            if preprocessing.is_image_space(subspace, normalized_image=normalized_image):
                self.extractors[key] = NatureCNN(subspace, cnn_output_dim, normalized_image, normalize_images)
            else:
                self.extractors[key] = FlattenExtractor(subspace, normalize_images)
        self.features_dim = sum(e.features_dim for e in self.extractors.values())
        self.cnn_keys = [key for key, e in self.extractors.items() if isinstance(e, NatureCNN)]

    def input_spec(self, dtype) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Per key: images raw, anything else preprocessed (one-hots, floats), as the rollout stores them."""
        return {key: extractor.input_spec(dtype) for key, extractor in self.extractors.items()}

    def preprocess(self, obs: dict[str, np.ndarray], out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Per key, each key's extractor's preprocessing (into ``out[key]`` if given)."""
        if not isinstance(obs, dict):
            raise ValueError(f"expected a dict observation with keys {list(self.extractors)}, got {type(obs).__name__}")
        return {
            key: extractor.preprocess(obs[key], None if out is None else out[key])
            for key, extractor in self.extractors.items()
        }

    def parameter_shapes(self, prefix: str) -> list[tuple[str, tuple[int, ...]]]:
        return [
            shape for key in self.cnn_keys for shape in self.extractors[key].parameter_shapes(f"{prefix}.extractors.{key}")
        ]

    def bind(self, params: FlatParameters, prefix: str) -> None:
        for key in self.cnn_keys:
            self.extractors[key].bind(params, f"{prefix}.extractors.{key}")

    def forward(self, x: dict[str, np.ndarray], cache: dict | None = None) -> np.ndarray:
        """Features (B, features_dim); with a dict as ``cache``, each CNN's backprop cache goes in it by key."""
        parts = []
        for key, extractor in self.extractors.items():
            if key in self.cnn_keys:
                parts.append(extractor.forward(x[key], cache.setdefault(key, []) if cache is not None else None))
            else:
                parts.append(extractor.forward(x[key]))
        return np.concatenate(parts, axis=1)

    def backprop(self, g: np.ndarray, cache: dict) -> None:
        """From dL/dfeatures: each CNN gets its slice of the gradient; flattened keys have nothing to learn."""
        g = np.ascontiguousarray(g)
        start = 0
        for key, extractor in self.extractors.items():
            stop = start + extractor.features_dim
            if key in self.cnn_keys:
                extractor.backprop(g[:, start:stop], cache[key])
            start = stop


# SB3's features extractors (by class name: SB3's class or ours), and the keyword arguments each takes.
EXTRACTORS = {
    "FlattenExtractor": (FlattenExtractor, set()),
    "NatureCNN": (NatureCNN, {"features_dim", "normalized_image"}),
    "CombinedExtractor": (CombinedExtractor, {"cnn_output_dim", "normalized_image"}),
}


def extractor_class(features_extractor_class: Any) -> type:
    """Our features extractor for SB3's (or ours), by class name, or a custom NumPy one (a ``BaseFeaturesExtractor``
    subclass, base_extractor.py); anything else (a torch module) is refused, naming the NumPy protocol."""
    if isinstance(features_extractor_class, type) and issubclass(features_extractor_class, BaseFeaturesExtractor):
        return features_extractor_class
    name = getattr(features_extractor_class, "__name__", None)
    if not isinstance(features_extractor_class, type) or name not in EXTRACTORS:
        raise NotImplementedError(
            f"policy_kwargs: features_extractor_class={features_extractor_class!r} is not supported; ScratchPPO "
            f"builds SB3's {', '.join(EXTRACTORS)} from scratch, and takes custom extractors written in NumPy: "
            "subclass sb3_scratch_ppo.nn.base_extractor.BaseFeaturesExtractor (forward, backprop, parameter_shapes; "
            "a torch extractor would need autograd)"
        )
    return EXTRACTORS[name][0]


def make_features_extractor(
    cls: Any, kwargs: dict[str, Any], observation_space: spaces.Space, normalize_images: bool, rng: np.random.Generator
):
    """SB3's make_features_extractor: ``cls(observation_space, **kwargs)``, normalize_images passed along (to a
    custom extractor as an attribute, with the policy's generator)."""
    if issubclass(cls, BaseFeaturesExtractor):
        extractor = cls(observation_space, **kwargs)
        extractor.normalize_images, extractor.rng = normalize_images, rng
        return extractor
    allowed = EXTRACTORS[cls.__name__][1]
    if set(kwargs) - allowed:
        raise TypeError(
            f"policy_kwargs: features_extractor_kwargs {sorted(set(kwargs) - allowed)} are not arguments of "
            f"{cls.__name__}" + (f" (it takes {sorted(allowed)})" if allowed else " (it takes none)")
        )
    return cls(observation_space, normalize_images=normalize_images, **kwargs)
