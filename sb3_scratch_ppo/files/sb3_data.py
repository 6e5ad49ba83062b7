"""The readable text SB3 writes beside its pickled blobs in a model file's ``data`` (``{":type:": "<class ...>",
":serialized:": base64, ...attributes}``), and spaces rebuilt from it: the printed bounds of a Box are taken only
where NumPy printed them exactly, so a rebuilt space is the saved one or an error, never an approximation."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from gymnasium import spaces


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and what is wrong."""


def serialized(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) and ":type:" in value else {}


def type_name(value: dict[str, Any]) -> str:
    match = re.fullmatch(r"<class '([\w.]+)'>", str(value.get(":type:", "")))
    return match.group(1) if match else ""


# --- spaces -----------------------------------------------------------------------------------------------


def space(value: Any, where: str, given: spaces.Space | None) -> spaces.Space:
    """The env's space if it matches the file's description (else an error showing both); without an env,
    the space rebuilt from the description where that is exact."""
    info = serialized(value)
    kind = type_name(info).rsplit(".", 1)[-1]
    if given is not None:
        if type(given).__name__ != kind or not _matches(given, info):
            raise ModelFileError(f"{where}: the env's space {given} does not match the file's {describe(info)}")
        return given
    try:
        return rebuild(kind, info)
    except (KeyError, ValueError, TypeError) as e:
        raise ModelFileError(
            f"{where}: the file describes the space only in part ({describe(info)}: {e}); "
            "pass env= to load, whose spaces are checked against the file"
        ) from e


def describe(info: dict[str, Any]) -> str:
    """The file's description of a space, on one line, long arrays cut."""

    def short(v: Any) -> str:
        text = re.sub(r"\s+", " ", str(v))
        return text if len(text) <= 60 else text[:57] + "..."

    return (
        type_name(info)
        + "("
        + ", ".join(
            f"{k}={short(v)}" for k, v in info.items() if k in ("dtype", "_shape", "n", "nvec", "low", "high", "start")
        )
        + ")"
    )


def _ints(text: Any) -> np.ndarray:
    if isinstance(text, (int, list)):
        return np.array(text, dtype=np.int64)
    return np.array([int(x) for x in str(text).replace("[", " ").replace("]", " ").replace(",", " ").split()], dtype=np.int64)


def _exact(item: str, dtype: np.dtype) -> bool:
    """Whether one element of an array printed by NumPy (default options) fixes its value. NumPy rounds to 8 digits
    after the point (of the mantissa, in scientific notation) and then trims trailing zeros, so "0.1" may have been
    0.1000000001: the value lies within half an 8-digit step of the text, and the text fixes it when exactly one
    value of the dtype lies there. For float32 that is almost always so (CartPole's 0.41887903, MountainCar's -0.07);
    for float64 almost never. Zeros and infinities are exact (NumPy prints nonzero magnitudes below 1e-4 in
    scientific notation)."""
    if not np.issubdtype(dtype, np.floating) or item.lstrip("+-") in ("inf", "nan") or float(item) == 0:
        return True
    exponent = re.search(r"e([-+]?\d+)$", item)
    half_step = 0.5 * (10.0 ** (int(exponent[1]) - 8) if exponent else 1e-8)
    text = float(item)
    nearest = np.array(text, dtype=dtype)
    neighbours = (np.nextafter(nearest, np.array(np.inf, dtype=dtype)), np.nextafter(nearest, np.array(-np.inf, dtype=dtype)))
    return all(abs(float(n) - text) > half_step for n in neighbours)


def _floats(text: Any, shape: tuple[int, ...], dtype: np.dtype, exact: bool) -> np.ndarray:
    """An array printed by NumPy; exact: refuse it if an element may have been rounded in print (``_exact``)."""
    if isinstance(text, list):
        return np.array(text, dtype=dtype).reshape(shape)
    if "..." in str(text):
        raise ValueError("the bounds were printed in summary, with '...'")
    items = str(text).replace("[", " ").replace("]", " ").split()
    for item in items if exact else ():
        if not _exact(item, dtype):
            raise ValueError(f"the bound {item} may have been rounded when it was printed")
    values = np.array([float(x) for x in items])
    return values.astype(dtype).reshape(shape) if values.size else np.broadcast_to(values, shape).astype(dtype)


def rebuild(kind: str, info: dict[str, Any]) -> spaces.Space:
    if kind == "Discrete":
        return spaces.Discrete(int(info["n"]), start=int(info.get("start", 0)))
    if kind == "MultiDiscrete":
        nvec = _ints(info["nvec"])
        return spaces.MultiDiscrete(nvec, dtype=info.get("dtype", "int64"), start=_ints(info.get("start", 0 * nvec)))
    if kind == "MultiBinary":
        n = _ints(info["n"])
        return spaces.MultiBinary(int(n) if n.ndim == 0 else n.tolist())
    if kind == "Box":
        dtype = np.dtype(info["dtype"])
        shape = tuple(int(x) for x in _ints(info["_shape"]))
        low, high = (_floats(info[k], shape, dtype, exact=True) for k in ("low", "high"))
        return spaces.Box(low, high, shape, dtype)
    raise ValueError(f"a {kind or 'undescribed'} space is not rebuilt from text")


def _matches(given: spaces.Space, info: dict[str, Any]) -> bool:
    """The checks the description allows: dtype, shape, n / nvec / start, Box bounds (to float32 precision),
    a Dict's keys in order."""
    if isinstance(given, spaces.Dict):
        keys = re.findall(r"'([^']+)': \w+\(", str(info.get("spaces", "")))
        return keys == list(given.spaces)
    if "dtype" in info and given.dtype is not None and str(given.dtype) != str(info["dtype"]):
        return False
    if "_shape" in info and tuple(_ints(info["_shape"])) != given.shape:
        return False
    try:
        if isinstance(given, spaces.Discrete):
            return int(info["n"]) == given.n and int(info.get("start", 0)) == given.start
        if isinstance(given, spaces.MultiDiscrete):
            return np.array_equal(_ints(info["nvec"]).reshape(given.shape), given.nvec)
        if isinstance(given, spaces.Box):
            for key, bound in (("low", given.low), ("high", given.high)):
                if "..." in str(info.get(key, "...")):
                    continue
                saved = _floats(info[key], given.shape, np.float64, exact=False)
                if not np.allclose(saved, bound, rtol=1e-6, atol=0, equal_nan=True):
                    return False
    except (KeyError, ValueError, TypeError):
        return False
    return True
