"""The features-extractor protocol, and ``BaseFeaturesExtractor``, the base class of custom NumPy extractors.

SB3 takes any torch ``BaseFeaturesExtractor`` subclass as ``policy_kwargs["features_extractor_class"]`` and
autograd differentiates it. Here there is no autograd: a custom extractor subclasses ``BaseFeaturesExtractor`` and
writes its own backward pass. What the policy calls (the built-in ``FlattenExtractor``, ``NatureCNN`` and
``CombinedExtractor`` of ``extractors.py`` follow the same protocol):

    __init__(observation_space, **features_extractor_kwargs)     SB3's signature; set ``features_dim``
    parameter_shapes(prefix) -> [(name, shape), ...]            what it learns, named as in SB3's state_dict
    bind(params, prefix)                                         views into the policy's flat buffers:
                                                                 params.views[name] (weights), params.grad_views[name]
    forward(x, cache) -> features (B, features_dim)              x: the network input (``preprocess``'s output);
                                                                 with a list as ``cache``, what backprop needs goes in it
    backprop(g, cache)                                           dL/dfeatures (B, features_dim) -> write dL/dparams
                                                                 into the grad views (overwrite, never accumulate)
    set_training_mode(mode)                                      train (True) or eval (False), as nn.Module.train
    buffer_views(prefix) -> [(name, array), ...]                 state that is saved but not learned (batch norm's
                                                                 running statistics), in SB3's state_dict names

``preprocess`` and ``input_spec`` default to SB3's ``preprocess_obs``: Box observations as float32 in their shape
(images divided by 255 when ``normalize_images``), Discrete and MultiDiscrete as one-hots, MultiBinary as floats.
The policy runs ``forward`` in eval mode during rollouts and ``predict``, and in train mode (with a cache) during
the update, as SB3 does; ``rng`` is the policy's seeded generator (for dropout masks). The gradient must be exact:
test it against autograd, as tests/numpy_extractors.py does for its example.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_scratch_ppo.nn import preprocessing
from sb3_scratch_ppo.nn.layers import FlatParameters


class BaseFeaturesExtractor:
    """Subclass this for a custom NumPy features extractor (SB3's ``BaseFeaturesExtractor``, without autograd).

    :param observation_space: the observation space
    :param features_dim: the width of the features it returns
    """

    def __init__(self, observation_space: spaces.Space, features_dim: int = 0):
        assert features_dim > 0, "features_dim must be positive"
        self.observation_space = observation_space
        self.features_dim = features_dim
        self.normalize_images = True  # set by the policy from its normalize_images
        self.training = True
        self.rng = np.random.default_rng()  # replaced by the policy's seeded generator

    # --- what subclasses write --------------------------------------------------------------------------

    def parameter_shapes(self, prefix: str) -> list[tuple[str, tuple[int, ...]]]:
        return []

    def bind(self, params: FlatParameters, prefix: str) -> None:
        pass

    def forward(self, x: np.ndarray, cache: list | None = None) -> np.ndarray:
        raise NotImplementedError

    def backprop(self, g: np.ndarray, cache: list) -> None:
        raise NotImplementedError(f"{type(self).__name__} learns: it must write its gradients in backprop")

    def buffer_views(self, prefix: str) -> list[tuple[str, np.ndarray]]:
        return []

    # --- defaults ------------------------------------------------------------------------------------------

    def set_training_mode(self, mode: bool) -> None:
        self.training = mode

    def _input_shape(self) -> tuple[int, ...]:
        space = self.observation_space
        if isinstance(space, (spaces.Box, spaces.MultiBinary)):
            return tuple(space.shape)
        return (preprocessing.features_dim(space),)

    def input_spec(self, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of one network input, as the rollout stores it."""
        return self._input_shape(), np.dtype(dtype)

    def preprocess(self, obs: Any, out: np.ndarray | None = None) -> np.ndarray:
        """SB3's preprocess_obs for a batch (into ``out`` if given): float32, in the observation's shape."""
        flat_out = None if out is None else out.reshape(len(out), -1)
        flat = preprocessing.preprocess(obs, self.observation_space, self.normalize_images, out=flat_out)
        return flat.reshape(len(flat), *self._input_shape()) if out is None else out
