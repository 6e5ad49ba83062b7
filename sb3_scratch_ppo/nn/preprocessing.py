"""Observation preprocessing: turn a batch of raw observations into the float features the MLP reads.

As SB3's ``preprocess_obs`` for MlpPolicy: Box -> float32 (images divided by 255),
Discrete -> one-hot, MultiDiscrete -> concatenated one-hots, MultiBinary -> float.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces


def is_image_space(space: spaces.Space, normalized_image: bool = False) -> bool:
    """A uint8 Box of rank 3 with values in [0, 255], as SB3 decides (the channel check aside); with
    ``normalized_image``, any Box of rank 3 (no dtype or bounds check, as SB3)."""
    if not (isinstance(space, spaces.Box) and len(space.shape) == 3):
        return False
    return normalized_image or (space.dtype == np.uint8 and np.all(space.low == 0) and np.all(space.high == 255))


def features_dim(space: spaces.Space) -> int:
    """Width of the feature vector for one observation of ``space``."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, spaces.MultiBinary):
        return int(np.prod(space.shape))
    raise NotImplementedError(
        f"observation space {space} is not supported by MlpPolicy; supported: Box, Discrete, MultiDiscrete, MultiBinary"
    )


def preprocess(
    obs: np.ndarray, space: spaces.Space, normalize_images: bool = True, out: np.ndarray | None = None
) -> np.ndarray:
    """A batch of observations (B, *space.shape) -> float32 features (B, features_dim(space)).

    Writes into ``out`` when given (shape (B, features_dim), float32). Raises ValueError on
    NaN or infinite observations: they would silently turn into NaN actions.
    """
    obs = np.asarray(obs)
    batch = obs.shape[0]
    if out is None:
        out = np.empty((batch, features_dim(space)), dtype=np.float32)
    if isinstance(space, spaces.Box):
        flat = obs.reshape(batch, -1)
        if normalize_images and len(space.shape) == 3 and is_image_space(space):  # (shape test first: it is per step)
            np.divide(flat, np.float32(255.0), out=out, casting="unsafe")
        else:
            out[:] = flat
        # One reduction in the common case; the sum is inf only for NaN/inf (or values near float32's max).
        if not math.isfinite(np.add.reduce(out, axis=None)) and not np.isfinite(out).all():
            bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
            raise ValueError(
                f"observations at batch indices {bad.tolist()} contain NaN or inf: {obs[bad[:3]].tolist()}. "
                "Check the environment (SB3's VecCheckNan wrapper finds where they come from)."
            )
    elif isinstance(space, spaces.Discrete):
        out[:] = 0.0
        out[np.arange(batch), obs.reshape(batch).astype(np.int64) - int(space.start)] = 1.0
    elif isinstance(space, spaces.MultiDiscrete):
        out[:] = 0.0
        offsets = np.concatenate(([0], np.cumsum(space.nvec.ravel())[:-1]))
        cols = obs.reshape(batch, -1).astype(np.int64) - space.start.ravel() + offsets
        out[np.arange(batch)[:, None], cols] = 1.0
    elif isinstance(space, spaces.MultiBinary):
        out[:] = obs.reshape(batch, -1)
    else:
        features_dim(space)  # raises the unsupported-space error
    return out


def as_sb3_stores(x: np.ndarray, space: spaces.Space, normalize_images: bool = True) -> np.ndarray:
    """``preprocess`` undone: network inputs (..., features) -> the observations as SB3's RolloutBuffer stores them
    (..., *SB3's get_obs_shape(space)) in the space's dtype: Discrete as its value (..., 1), MultiDiscrete as its
    values, MultiBinary as int8, Box reshaped (float Box values as the float32 the network read). Images kept raw
    (CnnPolicy's inputs) are returned as they are."""
    lead = x.shape[:-1]
    if isinstance(space, spaces.Box):
        if x.shape[-len(space.shape) :] == space.shape and x.dtype == space.dtype:
            return x  # already as SB3 stores it (raw images, float32 vectors)
        if normalize_images and len(space.shape) == 3 and is_image_space(space):
            return np.rint(x * 255.0).reshape(*lead, *space.shape).astype(space.dtype)
        return x.reshape(*lead, *space.shape).astype(space.dtype, copy=False)
    if isinstance(space, spaces.Discrete):
        return (x.argmax(axis=-1) + int(space.start))[..., None].astype(space.dtype)
    if isinstance(space, spaces.MultiDiscrete):
        splits = np.cumsum(space.nvec.ravel())[:-1]
        values = np.stack([part.argmax(axis=-1) for part in np.split(x, splits, axis=-1)], axis=-1)
        return (values + space.start.ravel()).reshape(*lead, *space.shape).astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        return x.reshape(*lead, *space.shape).astype(space.dtype)
    raise NotImplementedError(f"observation space {space}")
