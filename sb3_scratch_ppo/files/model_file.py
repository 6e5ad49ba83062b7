"""Model files read without unpickling: SB3's zip format taken apart with a JSON parser and torch's weights-only reader.

A model zip (SB3's ``save``; ScratchPPO writes the same) holds ``data``, JSON in which every value JSON cannot
express is a cloudpickle blob (``{":type:": ..., ":serialized:": base64}``), and ``.pth`` tensor files. SB3's loader
unpickles those blobs, and then copies every key of ``data`` onto the model, so a crafted file runs code when it is
loaded. Here nothing in a file is ever unpickled or imported:

- ``data`` is read with ``json.loads``. Only the keys PPO saves are taken, each type-checked; other keys are ignored
  with a warning. Blobs are never unpickled: what is needed is rebuilt from the readable text SB3 writes beside them,
  or, for NumPy arrays, read by ``arrays.py``'s allow-list (never importing or calling what a blob names).
- schedules: a number, SB3's ``ConstantSchedule`` / ``LinearSchedule``, the zoo's ``SimpleLinearSchedule`` (``lin_x``)
  and ours; a function (a lambda, a closure) cannot be rebuilt: the model predicts, and ``learn()`` asks for it
  through ``custom_objects``.
- spaces: the env's, checked against the file's description; without an env, a Box from its pickled bounds read by
  the restricted reader of ``arrays.py`` (NumPy arrays of numbers, nothing else; also what ``load(force_reset=False)``
  reads), else rebuilt from the description where it is exact (Discrete, MultiDiscrete, MultiBinary, Box bounds
  printed in full), otherwise a clear error asking for one.
- the policy class and ``policy_kwargs`` classes: by name, from a fixed list (PPO's and ours).
- tensors: ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers.

``custom_objects`` keeps SB3's meaning: a key named there is not read from the file; the given object is used.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sb3_scratch_ppo.files.arrays import saved_box
from sb3_scratch_ppo.files.sb3_data import ModelFileError, serialized, space, type_name
from sb3_scratch_ppo.nn.layers import ACTIVATIONS
from sb3_scratch_ppo.schedules import UnreadableSchedule, ZooLinearSchedule

# PPO's tensors; its pytorch_variables.pth is an empty dict, not read.
WEIGHT_FILES = ("policy.pth", "policy.optimizer.pth")

# PPO's saved attributes that are plain values, with the types each may have.
_INT, _NUM = (int,), (int, float)
SCALARS: dict[str, tuple[tuple[type, ...], bool]] = {  # name -> (types, None allowed)
    **dict.fromkeys(
        (
            "verbose",
            "num_timesteps",
            "_total_timesteps",
            "_num_timesteps_at_start",
            "_episode_num",
            "_stats_window_size",
            "_n_updates",
            "n_envs",
            "n_steps",
            "batch_size",
            "n_epochs",
            "sde_sample_freq",
        ),
        (_INT, False),
    ),
    **dict.fromkeys(
        ("start_time", "_current_progress_remaining", "gamma", "gae_lambda", "max_grad_norm"),
        (_NUM, False),
    ),
    "target_kl": (_NUM, True),
    "use_sde": ((bool,), False),
    "normalize_advantage": ((bool,), False),
    "seed": (_INT, True),
    "tensorboard_log": ((str,), True),
}
SCHEDULES = ("learning_rate", "clip_range", "clip_range_vf", "ent_coef", "vf_coef")  # coefficients: ScratchPPO's
# Saved, and rebuilt by load() itself (SB3 does the same for the first four when an env is given): the last
# observations and episode buffers are pickled arrays and deques, and lr_schedule is made from learning_rate.
REBUILT = {
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
    "lr_schedule",
    "action_noise",
    "rollout_buffer_class",
    "rollout_buffer_kwargs",
    "env",
}
STRUCTURED = {"policy_class", "policy_kwargs", "observation_space", "action_space"}

_OUR_POLICY_MODULES = ("sb3_scratch_ppo.policy", "sb3_scratch_ppo.policies")


@dataclass
class ModelFile:
    name: str
    data: dict[str, Any]
    params: dict[str, Any]  # "policy" and "policy.optimizer" state dicts
    system_info: str


def read(path: str | Path | io.BufferedIOBase) -> ModelFile:
    """The zip's ``data`` (JSON) and tensors (weights only), with errors that name the file."""
    import torch

    name = str(path) if isinstance(path, (str, Path)) else getattr(path, "name", repr(path))
    if isinstance(path, (str, Path)):
        path = Path(path)
        if not path.exists() and path.suffix != ".zip" and path.with_name(path.name + ".zip").exists():
            path = path.with_name(path.name + ".zip")  # SB3 adds the suffix too
            name = str(path)
        if not path.exists():
            raise FileNotFoundError(f"model file {name!r} not found" + (f" (nor {name}.zip)" if path.suffix != ".zip" else ""))
        if path.is_dir():
            raise ModelFileError(f"{name}: is a directory, not a model file")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise ModelFileError(f"{name}: not a model file: not a zip archive, or truncated ({e})") from e
    with archive:
        members = set(archive.namelist())
        if "data" not in members and any(m.endswith("/data.pkl") for m in members):
            # zipfile looks for the index from the end; a cut file's last intact index is a weights file's own
            raise ModelFileError(f"{name}: truncated or corrupt: the end of the model file is missing")
        if "data" not in members:
            raise ModelFileError(
                f"{name}: a zip without 'data': not a model saved by SB3 or ScratchPPO (it holds {sorted(members)[:6]})"
            )
        try:
            text = archive.read("data").decode("utf-8")
            params = {}
            for member in WEIGHT_FILES:
                if member in members:
                    blob = io.BytesIO(archive.read(member))
                    params[member[: -len(".pth")]] = torch.load(blob, map_location="cpu", weights_only=True)
            info = archive.read("system_info.txt").decode("utf-8", "replace") if "system_info.txt" in members else ""
        except pickle.UnpicklingError as e:  # torch's weights-only reader met something other than tensors
            raise ModelFileError(f"{name}: a weights file holds something other than tensors; refused ({e})") from e
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, UnicodeDecodeError, zlib.error) as e:
            raise ModelFileError(f"{name}: corrupt model file: {e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{name}: 'data' is not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ModelFileError(f"{name}: 'data' is not a JSON object")
    if "policy" not in params:
        raise ModelFileError(f"{name}: no policy.pth: the file has no weights")
    return ModelFile(name, data, params, info)


# --- data: the known keys, type-checked -------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """Whose files a learner reads and writes: the library's policy module and its classes (by name, ours for each),
    our classes by kind ("MlpPolicy", ...) and the names for messages."""

    module: str  # where the reference's policy classes live, as files name them
    classes: Mapping[str, type]  # the reference's class name -> ours
    aliases: Mapping[str, type]  # "MlpPolicy" / "CnnPolicy" / "MultiInputPolicy" -> ours
    learner: str  # ours, e.g. "ScratchPPO"
    reference: str  # e.g. "SB3's PPO"


def decode(file: ModelFile, custom_objects: dict[str, Any] | None, env_spaces: tuple | None, ref: Reference) -> dict[str, Any]:
    """The attributes to set on the model: SB3's known keys, read without unpickling (see the module docstring)."""
    data, custom_objects = file.data, dict(custom_objects or {})
    check_algorithm(file, ref)
    out: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{file.name}: data[{key!r}]"
        if key in custom_objects:
            out[key] = custom_objects[key]
        elif key in SCALARS:
            types, nullable = SCALARS[key]
            if not (
                (value is None and nullable)
                or (isinstance(value, types) and not (isinstance(value, bool) and bool not in types))
            ):
                raise ModelFileError(
                    f"{where}: expected {' or '.join(t.__name__ for t in types)}"
                    f"{' or null' if nullable else ''}, got {value!r}"
                )
            out[key] = value
        elif key in SCHEDULES:
            out[key] = schedule(value, where)
            if isinstance(out[key], UnreadableSchedule):  # SB3 warns, with these first words, where it cannot read one
                warnings.warn(
                    f"Could not deserialize object {key}. Consider using `custom_objects` argument to replace this "
                    f"object.\n{where} is a function ({out[key].text}), which a model file holds only as code, and "
                    "nothing in a file is run here: predicting works without it, training needs it"
                )
        elif key == "policy_kwargs":
            out[key] = policy_kwargs(value, where)
        elif key not in STRUCTURED and key not in REBUILT:
            warnings.warn(f"{where}: unknown key ignored (a model file sets only the attributes PPO saves)")
    for key in ("observation_space", "action_space"):
        if key in custom_objects:
            continue
        if key not in data:
            raise ModelFileError(f"{file.name}: data has no {key}: the spaces cannot be checked")
        given = None if env_spaces is None else env_spaces[key == "action_space"]
        where = f"{file.name}: data[{key!r}]"
        if given is None and type_name(serialized(data[key])) == "gymnasium.spaces.box.Box":
            try:  # exact bounds from the restricted reader (an image's are printed in summary, '...')
                out[key] = saved_box(data[key], where)
                continue
            except ModelFileError:
                pass  # then the printed text, where it is exact (else its error)
        out[key] = space(data[key], where, given)
    out["policy_class"] = custom_objects.get("policy_class") or ref.aliases[policy_kind(file)]
    return out


def check_algorithm(file: ModelFile, ref: Reference) -> None:
    """Refuse, naming it, a model of another algorithm: its policy's module, or PPO's own keys missing."""
    module = serialized(file.data.get("policy_class")).get("__module__", "")
    loads = f"{ref.learner} loads models saved by {ref.reference} or by {ref.learner}"
    if not isinstance(module, str) or (module and module not in (ref.module, *_OUR_POLICY_MODULES)):
        algo = module.split(".")[1].upper() if module.startswith("stable_baselines3.") else module
        hint = "; load it with ScratchMaskablePPO" if module.startswith("sb3_contrib.common.maskable.") else ""
        raise ModelFileError(
            f"{file.name}: saved by another algorithm ({algo}: its policy comes from {module!r}); {loads}{hint}"
        )
    name = serialized(file.data.get("policy_class")).get("__name__", "")
    if module in _OUR_POLICY_MODULES and name and name not in {c.__name__ for c in ref.aliases.values()}:
        raise ModelFileError(f"{file.name}: saved by another of our learners (its policy is {name}); {loads}")
    missing = [k for k in ("n_epochs", "batch_size", "clip_range") if k not in file.data]
    if missing:
        raise ModelFileError(f"{file.name}: saved by another algorithm (A2C, or not PPO: data has no {missing}); {loads}")


# --- schedules ------------------------------------------------------------------------------------------

_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf)"


def schedule(value: Any, where: str) -> Any:
    """A number, or a schedule rebuilt from its class name and attributes / its text; a function cannot be."""
    from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule

    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    info = serialized(value)
    kind = type_name(info).rsplit(".", 1)[-1]
    if kind == "FloatSchedule":  # a wrapper: its inner schedule is only there as text
        return schedule_from_text(str(info.get("value_schedule", "")), where)
    try:
        if kind in ("SimpleLinearSchedule", "ZooLinearSchedule", "LinearSchedule") and "initial_value" in info:
            return ZooLinearSchedule(float(info["initial_value"]))
        if kind == "LinearSchedule":
            return LinearSchedule(float(info["start"]), float(info["end"]), float(info["end_fraction"]))
        if kind == "ConstantSchedule":
            return ConstantSchedule(float(info["val"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{where}: a {kind} without readable values ({e})") from e
    return UnreadableSchedule(where, type_name(info) or repr(value)[:80])


def schedule_from_text(text: str, where: str) -> Any:
    from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule

    n = _NUMBER
    if m := re.fullmatch(rf"ConstantSchedule\(val=({n})\)", text):
        return ConstantSchedule(float(m[1]))
    if m := re.fullmatch(rf"LinearSchedule\(start=({n}), end=({n}), end_fraction=({n})\)", text):
        return LinearSchedule(float(m[1]), float(m[2]), float(m[3]))
    if m := re.fullmatch(rf"(?:SimpleLinearSchedule\(initial_value=|(?:Zoo)?LinearSchedule\()({n})\)", text):
        return ZooLinearSchedule(float(m[1]))
    return UnreadableSchedule(where, text)


# --- policy -----------------------------------------------------------------------------------------------


def policy_kind(file: ModelFile) -> str:
    """MlpPolicy, CnnPolicy or MultiInputPolicy (SB3's, sb3-contrib's maskable ones, or ours): told apart by the
    weights' names."""
    keys = list(file.params["policy"])
    if any(k.startswith("features_extractor.extractors.") or k.startswith("pi_features_extractor.extractors.") for k in keys):
        return "MultiInputPolicy"
    if any(".cnn." in f".{k}" for k in keys):
        return "CnnPolicy"
    return "MlpPolicy"


def policy_kwargs(value: Any, where: str) -> dict[str, Any]:
    """policy_kwargs: JSON values as they are; classes (stored as ``"<class '...'>"`` beside the blob) by name."""
    import torch

    from sb3_scratch_ppo.nn.extractors import EXTRACTORS

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelFileError(f"{where}: expected a dict, got {value!r}")
    if ":type:" in value and type_name(value) != "dict":
        raise ModelFileError(f"{where}: expected a dict, got a {value[':type:']}")
    out = {}
    for key, item in value.items():
        if key in (":type:", ":serialized:", "device"):
            continue
        match = re.fullmatch(r"<class '([\w.]+)\.(\w+)'>", item) if isinstance(item, str) else None
        if match is None:
            if isinstance(item, str) and item.startswith("<"):
                raise ModelFileError(
                    f"{where}[{key!r}]: {item} cannot be rebuilt without running code; pass it "
                    f"in custom_objects={{'policy_kwargs': {{...}}}}"
                )
            out[key] = item
        elif key == "activation_fn" and match[1] == "torch.nn.modules.activation" and match[2] in ACTIVATIONS:
            out[key] = getattr(torch.nn, match[2])
        elif key == "optimizer_class" and (match[1], match[2]) in (
            ("torch.optim.adam", "Adam"),
            ("torch.optim.adamw", "AdamW"),
        ):
            out[key] = getattr(torch.optim, match[2])
        elif (
            key == "features_extractor_class"
            and match[2] in EXTRACTORS
            and match[1]
            in ("stable_baselines3.common.torch_layers", "sb3_scratch_ppo.nn.extractors", "sb3_scratch_ppo.extractors")
        ):
            out[key] = EXTRACTORS[match[2]][0]
        else:
            raise ModelFileError(
                f"{where}[{key!r}]: {item} is not a class ScratchPPO knows for {key}; a file names classes only as "
                f"text, and none is imported from it: for your own (a custom NumPy extractor), pass "
                f"custom_objects={{'policy_kwargs': {{...}}}} with the policy_kwargs it was trained with"
            )
    if isinstance(out.get("optimizer_kwargs"), dict) and isinstance(out["optimizer_kwargs"].get("betas"), list):
        out["optimizer_kwargs"]["betas"] = tuple(out["optimizer_kwargs"]["betas"])  # JSON made the tuple a list
    return out
