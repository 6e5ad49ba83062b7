"""``policy.save(path)`` and ``ActorCriticPolicy.load(path)``: SB3's policy file, both ways, never running code.

SB3's format is ``torch.save({"state_dict": policy.state_dict(), "data": constructor arguments})``; SB3's
``load`` reads it with torch's full unpickler (any code the file names runs) and calls ``cls(**data)``. Ours
writes the same file, naming SB3's classes (torch activations, SB3's extractors, torch's optimizer, SB3's dummy
schedule), so SB3's ``ActorCriticPolicy.load`` reads it; and reads SB3's files and ours with
torch's weights-only unpickler and an allow-list in which every name maps to a stand-in of ours (files/arrays.py
for arrays and spaces; here classes, by name, that refuse to be called), so nothing the file names is imported or
run. Only the constructor arguments ``ActorCriticPolicy`` takes are read, each checked.

SB3 leaves ``share_features_extractor`` out of the file (so a policy saved with separate extractors comes back with
one, its two weight sets loaded into it in turn); ours writes it, and SB3's constructor takes it.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from sb3_scratch_ppo.files.arrays import ALLOWED, resolved, space_from
from sb3_scratch_ppo.files.sb3_data import ModelFileError
from sb3_scratch_ppo.nn.extractors import EXTRACTORS
from sb3_scratch_ppo.nn.layers import ACTIVATIONS


class _RefuseCall(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError(f"{cls.__name__} is named in the file only as a class; it is not called")


def _class_named(name: str) -> type:
    """A stand-in for a class the file names (an activation, an extractor, an optimizer): it has the name our
    constructor goes by, and refuses to be called."""
    return _RefuseCall(name, (), {})


def _dummy_schedule(progress_remaining: float) -> float:
    """SB3's BaseModel._dummy_schedule: the policy alone needs no learning rate."""
    return 0.0


_BASE_POLICY = _class_named("BasePolicy")


def _getattr(obj: Any, name: str) -> Any:
    """SB3 names its dummy schedule as getattr(BasePolicy, "_dummy_schedule"); nothing else is looked up."""
    if obj is _BASE_POLICY and name == "_dummy_schedule":
        return _dummy_schedule
    raise pickle.UnpicklingError(f"getattr({obj!r}, {name!r})")


OPTIMIZERS = {"torch.optim.adam": "Adam", "torch.optim.adamw": "AdamW"}
CLASSES = {
    **{f"torch.nn.modules.activation.{name}": name for name in ACTIVATIONS},
    **{f"stable_baselines3.common.torch_layers.{name}": name for name in EXTRACTORS},
    **{f"sb3_scratch_ppo.nn.extractors.{name}": name for name in EXTRACTORS},
    **{f"{module}.{name}": name for module, name in OPTIMIZERS.items()},
}
CONSTRUCTOR_KEYS = {
    "observation_space",
    "action_space",
    "normalize_images",
    "net_arch",
    "activation_fn",
    "use_sde",
    "log_std_init",
    "squash_output",
    "full_std",
    "use_expln",
    "lr_schedule",
    "ortho_init",
    "optimizer_class",
    "optimizer_kwargs",
    "features_extractor_class",
    "features_extractor_kwargs",
    "share_features_extractor",
}


def _allow_list() -> list[tuple[Any, str]]:
    """(our stand-in, the name the file uses) for torch.serialization.safe_globals."""
    allowed = [(obj, f"{module}.{name}") for (module, name), obj in ALLOWED.items() if module != "_codecs"]
    allowed += [(_class_named(name), path) for path, name in CLASSES.items()]
    allowed += [(_BASE_POLICY, f"stable_baselines3.common.policies.{name}") for name in ("BasePolicy", "BaseModel")]
    return [*allowed, (_getattr, "builtins.getattr")]


def sb3_constructor_parameters(policy: Any) -> dict[str, Any]:
    """SB3's ``ActorCriticPolicy._get_constructor_parameters()`` for our policy, with SB3's and torch's classes."""
    import stable_baselines3.common.torch_layers as sb3_layers
    import torch
    from stable_baselines3.common.policies import BasePolicy

    dist_kwargs = policy.dist_kwargs or {}
    optimizer = getattr(policy.optimizer_class, "__name__", "Adam")
    return dict(
        observation_space=policy.observation_space,
        action_space=policy.action_space,
        normalize_images=policy.normalize_images,
        net_arch=policy.net_arch,
        activation_fn=getattr(torch.nn, getattr(policy.activation_fn, "__name__", "Tanh")),
        use_sde=policy.use_sde,
        log_std_init=policy.log_std_init,
        squash_output=dist_kwargs.get("squash_output"),
        full_std=dist_kwargs.get("full_std"),
        use_expln=dist_kwargs.get("use_expln"),
        lr_schedule=BasePolicy._dummy_schedule,
        ortho_init=policy.ortho_init,
        optimizer_class=getattr(torch.optim, optimizer),
        optimizer_kwargs=policy.optimizer_kwargs,
        features_extractor_class=getattr(sb3_layers, policy.features_extractor_class.__name__),
        features_extractor_kwargs=policy.features_extractor_kwargs,
        share_features_extractor=policy.share_features_extractor,
    )


def save_policy(policy: Any, path: str | Path) -> None:
    """SB3's ``policy.save``: the state_dict (SB3's layout, float32 tensors) and SB3's constructor arguments."""
    import torch

    torch.save({"state_dict": policy.state_dict(), "data": sb3_constructor_parameters(policy)}, path)


def load_policy(cls: type, path: str | Path, device: Any = "auto") -> Any:
    """SB3's ``ActorCriticPolicy.load``: ``cls(**data)`` from the file, then its weights; read weights-only with
    the allow-list above, so a file that names anything else is refused, naming it."""
    import torch

    try:
        with torch.serialization.safe_globals(_allow_list()):
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # torch wraps the unpickler's errors in a long message; its "WeightsUnpickler error" says what
        lines = [line for line in str(e).splitlines() if "WeightsUnpickler error" in line] or str(e).splitlines()[:1]
        reason = lines[0].split("WeightsUnpickler error:")[-1].split(". Please use")[0].strip() if lines else type(e).__name__
        raise ModelFileError(f"{path}: not read as a policy file ({reason}); nothing in it was run") from e
    if not (isinstance(saved, dict) and isinstance(saved.get("data"), dict) and isinstance(saved.get("state_dict"), dict)):
        raise ModelFileError(f"{path}: expected SB3's policy file, a dict with 'state_dict' and 'data'")
    kwargs = constructor_kwargs(saved["data"], str(path))
    policy = cls(lr_schedule=_dummy_schedule, **kwargs)
    try:
        policy.load_state_dict(saved["state_dict"])
    except RuntimeError as e:
        raise ModelFileError(f"{path}: {e}") from e
    return policy.to(device)


def constructor_kwargs(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The file's constructor arguments as our ActorCriticPolicy takes them: spaces rebuilt, classes by name,
    SB3's None for the gSDE options left to the defaults, the schedule dropped."""
    unknown = set(data) - CONSTRUCTOR_KEYS
    if unknown:
        raise ModelFileError(f"{where}: data holds {sorted(unknown)}, which ActorCriticPolicy does not take")
    kwargs = {}
    for key, value in resolved(data).items():
        if key in ("observation_space", "action_space"):
            kwargs[key] = space_from(value, f"{where}: data[{key!r}]")
        elif key == "lr_schedule" or value is None:
            continue
        elif key.endswith("_class") or key == "activation_fn":
            if not isinstance(value, _RefuseCall):
                raise ModelFileError(f"{where}: data[{key!r}] is {value!r}, not a class this package knows")
            kwargs[key] = value
        else:
            kwargs[key] = value
    return kwargs
