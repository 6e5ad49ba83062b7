"""A restricted reader for the NumPy arrays SB3 pickles into a model file's ``data``: the last observations
(``_last_obs``, ``_last_episode_starts``, ``_last_original_obs``) and the bounds of a ``Box`` space.

SB3 writes these with cloudpickle; unpickling them as SB3 does would import and call whatever the file names. This
reader is Python's ``pickle.Unpickler`` with ``find_class`` answering from a short allow-list of our own functions
(the "Restricting Globals" recipe of the ``pickle`` docs), so nothing the file names is imported or run:

- NumPy arrays of booleans and numbers, rebuilt by our ``_frombuffer`` / ``_reconstruct`` (never object arrays) and
  ``np.dtype`` of those kinds only;
- ``collections.OrderedDict`` (Dict observations);
- a ``gymnasium.spaces.Box`` as its saved attributes (a plain dict): the caller builds the space from them;
- NumPy's random generator (a Box's ``_np_random``) as a placeholder: it is not restored.

Anything else in the file raises ``ModelFileError`` naming it.
"""

from __future__ import annotations

import base64
import binascii
import io
import pickle
from collections import OrderedDict
from typing import Any

import numpy as np

from sb3_scratch_ppo.files.sb3_data import ModelFileError, serialized

NUMBER_KINDS = "biuf"  # bool, signed and unsigned ints, floats: what observations and bounds are made of
SPACE_KINDS = {
    "Box": "box",
    "Discrete": "discrete",
    "MultiDiscrete": "multi_discrete",
    "MultiBinary": "multi_binary",
    "Dict": "dict",
}


class _DtypeState:
    """``np.dtype(name)`` as pickled (the dtype, then its byte order set by BUILD), of booleans and numbers only."""

    def __init__(self, name: Any, align: bool = False, copy: bool = False):
        self.dtype = np.dtype(name)
        if self.dtype.kind not in NUMBER_KINDS:
            raise pickle.UnpicklingError(f"an array of dtype {self.dtype} (only booleans and numbers are read)")

    def __setstate__(self, state: tuple) -> None:
        byteorder = state[1] if isinstance(state, tuple) and len(state) > 1 else "|"
        if byteorder in ("<", ">") and byteorder != self.dtype.byteorder:
            self.dtype = self.dtype.newbyteorder(byteorder)


def _dtype(value: Any) -> np.dtype:
    if isinstance(value, _DtypeState):
        return value.dtype
    if isinstance(value, np.dtype) and value.kind in NUMBER_KINDS:
        return value
    raise pickle.UnpicklingError(f"an array of dtype {value!r} (only booleans and numbers are read)")


def _frombuffer(buffer: Any, dtype: Any, shape: tuple[int, ...], order: Any, axis_order: Any = None) -> np.ndarray:
    """NumPy's own reduction of an array (pickle protocol 5): the raw bytes, dtype, shape, order (and, for order
    "K", the axis order), as NumPy's ``_frombuffer``."""
    array = np.frombuffer(bytes(buffer), dtype=_dtype(dtype))
    if order == "K" and axis_order is not None:
        return array.reshape(shape, order="C").transpose(axis_order).copy()
    return array.reshape(shape, order=order).copy()


def _scalar(dtype: Any, raw: Any) -> Any:
    """A NumPy scalar (``numpy.core.multiarray.scalar(dtype, bytes)``): a Discrete space's ``n``, say."""
    if not isinstance(raw, (bytes, bytearray)):
        raise pickle.UnpicklingError("a NumPy scalar whose data are not raw bytes")
    return np.frombuffer(bytes(raw), dtype=_dtype(dtype))[0]


class _NdarrayName:
    """``numpy.ndarray`` as a file names it: only ever the first argument of ``_reconstruct``, never called."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("numpy.ndarray is named in the file only as a class; it is not called")


class _ArrayState:
    """NumPy's older reduction (protocols 2-4): ``_reconstruct(ndarray, (0,), b'b')``, then its state set."""

    def __init__(self, subtype: Any, shape: Any, typecode: Any):
        if subtype is not _NdarrayName:
            raise pickle.UnpicklingError(f"an array of class {subtype!r}")
        self.array: np.ndarray | None = None

    def __setstate__(self, state: tuple) -> None:
        _version, shape, dtype, is_fortran, raw = state
        if not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("an array whose data are not raw bytes of numbers")
        self.array = _frombuffer(raw, dtype, tuple(shape), "F" if is_fortran else "C")


class _Attributes(dict):
    """A saved object's attributes, kept as a dict instead of building the object (a space); ``kind`` names it."""

    kind = ""

    def __init__(self, *args: Any):
        super().__init__()

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple):  # (dict, slots)
            state = state[0]
        self.update(state or {})


SPACE_STATES = {kind: type(f"_{kind}State", (_Attributes,), {"kind": kind}) for kind in SPACE_KINDS}


class _Skipped:
    """A placeholder for what is saved but not restored (a space's random generator)."""

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """Protocol 2's way to write bytes (``_codecs.encode(text, "latin1")``), and only that."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("_codecs.encode other than bytes written as latin-1 text")
    return text.encode("latin1")


_NUMPY_CORE = ("numpy.core", "numpy._core")
ALLOWED: dict[tuple[str, str], Any] = {
    **{(f"{core}.numeric", "_frombuffer"): _frombuffer for core in _NUMPY_CORE},
    **{(f"{core}.multiarray", "_reconstruct"): _ArrayState for core in _NUMPY_CORE},
    **{(f"{core}.multiarray", "scalar"): _scalar for core in _NUMPY_CORE},
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _DtypeState,
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1,
    **{(f"gymnasium.spaces.{module}", kind): SPACE_STATES[kind] for kind, module in SPACE_KINDS.items()},
    ("numpy.random._pickle", "__generator_ctor"): _Skipped,
    ("numpy.random._pickle", "__bit_generator_ctor"): _Skipped,
    ("numpy.random._pcg64", "PCG64"): _Skipped,
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"): _Skipped,
    ("numpy.random.bit_generator", "SeedSequence"): _Skipped,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} (only NumPy arrays, OrderedDict and Box bounds are read)")
        return ALLOWED[module, name]


def resolved(value: Any) -> Any:
    """Arrays and dtypes out of their placeholders, in containers too."""
    if isinstance(value, _ArrayState):
        return value.array
    if isinstance(value, _DtypeState):
        return value.dtype
    if isinstance(value, _Attributes):
        return {"__class__": value.kind, **{key: resolved(v) for key, v in value.items()}}
    if isinstance(value, dict):
        return type(value)((key, resolved(v)) for key, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(resolved(v) for v in value)
    return value


def read_pickled(value: Any, where: str) -> Any:
    """The object SB3 pickled into ``value`` (``{":type:": ..., ":serialized:": base64}``), read with the allow-list
    above; None when the file saved None. ``where`` names the file and key in errors."""
    if value is None:
        return None
    blob = serialized(value).get(":serialized:")
    if not isinstance(blob, str):
        raise ModelFileError(f"{where}: expected a pickled NumPy array, found {str(value)[:80]!r}")
    try:
        return resolved(_RestrictedUnpickler(io.BytesIO(base64.b64decode(blob))).load())
    except (pickle.UnpicklingError, binascii.Error, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ModelFileError(f"{where}: not read ({e}); nothing in it was run") from e


def read_array_tree(value: Any, where: str) -> np.ndarray | dict[str, np.ndarray] | None:
    """A pickled array, or a dict of them (Dict observations), or None; anything else is an error."""
    result = read_pickled(value, where)
    arrays = result.values() if isinstance(result, dict) else [result]
    if result is not None and not all(isinstance(a, np.ndarray) for a in arrays):
        raise ModelFileError(f"{where}: expected a NumPy array or a dict of them, found {type(result).__name__}")
    return dict(result) if isinstance(result, dict) else result


def space_from(attributes: Any, where: str) -> Any:
    """The gymnasium space whose saved attributes (``resolved``) these are: Box, Discrete, MultiDiscrete,
    MultiBinary, or a Dict of them; its random generator is not restored (a new one, as a fresh space)."""
    from gymnasium import spaces

    kind = attributes.get("__class__") if isinstance(attributes, dict) else None
    try:
        if kind == "Box":
            low, high, shape, dtype = (attributes[k] for k in ("low", "high", "_shape", "dtype"))
            return spaces.Box(low=low, high=high, shape=tuple(shape), dtype=dtype)
        if kind == "Discrete":
            return spaces.Discrete(int(attributes["n"]), start=int(attributes.get("start", 0)))
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(attributes["nvec"], dtype=attributes["dtype"], start=attributes.get("start"))
        if kind == "MultiBinary":
            n = attributes["n"]
            return spaces.MultiBinary(int(n) if np.ndim(n) == 0 else [int(k) for k in n])
        if kind == "Dict":
            return spaces.Dict({key: space_from(sub, f"{where}[{key!r}]") for key, sub in attributes["spaces"].items()})
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(f"{where}: not a readable {kind} ({e})") from e
    raise ModelFileError(
        f"{where}: expected a Box, Discrete, MultiDiscrete, MultiBinary or Dict space, found {kind or attributes!r}"
    )


def saved_box(value: Any, where: str) -> Any:
    """The Box space SB3 pickled into ``value``, rebuilt from its saved bounds, shape and dtype (exact, where the
    printed text beside it may be cut, '...', or rounded); ModelFileError if it is not a readable Box."""
    attributes = read_pickled(value, where)
    if not (isinstance(attributes, dict) and attributes.get("__class__") == "Box"):
        raise ModelFileError(f"{where}: not a Box")
    return space_from(attributes, where)
