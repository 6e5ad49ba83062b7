"""ScratchPPO's ``load``, ``save`` and ``set_parameters`` (the ``ModelFiles`` mixin): SB3's zip format, read without
unpickling (``model_file.py``), written by SB3's own ``save`` with SB3's class names, so that either library loads the
other's files."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gymnasium import spaces
from stable_baselines3.common.utils import FloatSchedule

from sb3_scratch_ppo.checks import check_hyperparameters
from sb3_scratch_ppo.files.arrays import read_array_tree
from sb3_scratch_ppo.files.model_file import ModelFile, ModelFileError, Reference, decode, read
from sb3_scratch_ppo.policies import POLICY_ALIASES, SB3_POLICIES
from sb3_scratch_ppo.schedules import UnreadableSchedule

# What SB3 saves of the env's current episodes (load(force_reset=False) restores them).
LAST_OBSERVATIONS = ("_last_obs", "_last_episode_starts", "_last_original_obs")

if TYPE_CHECKING:
    from sb3_scratch_ppo.ppo import ScratchPPO


def load_model(
    cls: Any,  # ScratchPPO or a subclass
    path,
    env=None,
    device="auto",
    custom_objects: dict[str, Any] | None = None,
    print_system_info: bool = False,
    force_reset: bool = True,
    **kwargs,
) -> ScratchPPO:
    """Load a model saved by ScratchPPO or SB3's PPO, as SB3's ``load`` does, but nothing in the file is
    unpickled or imported: ``data`` is read as JSON, only PPO's keys, type-checked; tensors weights-only.

    With ``env``, its spaces are checked against the file's; without, the spaces are rebuilt from the file where
    its description is exact. ``force_reset=True`` (SB3's default): the env is reset before training. False: the
    saved last observations and episode starts are restored (read by the restricted reader, files/arrays.py), so
    training continues the episodes the env is in, as SB3; where they cannot be, a warning says the env will be
    reset. ``custom_objects``: SB3's meaning.
    """
    file = read(path)
    if print_system_info:
        print("== SAVED MODEL SYSTEM INFO ==\n" + file.system_info)
    if env is not None:
        verbose = file.data.get("verbose")
        env = cls._wrap_env(env, verbose if isinstance(verbose, int) else 0)
    spaces_given = None if env is None else (env.observation_space, env.action_space)
    data = decode(file, custom_objects, spaces_given, cls.file_reference())
    if "policy_kwargs" in kwargs and kwargs["policy_kwargs"] != data.get("policy_kwargs", {}):
        raise ValueError(
            f"The specified policy kwargs do not equal the stored policy kwargs."
            f"Stored kwargs: {data.get('policy_kwargs')}, specified kwargs: {kwargs['policy_kwargs']}"
        )
    if env is not None:
        data["n_envs"] = env.num_envs  # as SB3 (its issue #1018)
    model = cls(policy=data.pop("policy_class"), env=env, device=device, _init_setup_model=False)
    model.__dict__.update(data)  # only the keys model_file.decode knows
    model.__dict__.update(kwargs)
    try:
        check_hyperparameters(
            **{
                k: getattr(model, k)
                for k in (
                    "learning_rate",
                    "n_steps",
                    "batch_size",
                    "n_epochs",
                    "gamma",
                    "gae_lambda",
                    "clip_range",
                    "clip_range_vf",
                    "ent_coef",
                    "vf_coef",
                    "max_grad_norm",
                    "target_kl",
                )
            }
        )
    except ValueError as e:
        raise ModelFileError(f"{file.name}: {e}") from e
    unreadable = model.learning_rate if isinstance(model.learning_rate, UnreadableSchedule) else None
    if unreadable is not None:
        model.learning_rate = 0.0  # to build the optimizer; its saved state then sets the rate it had
    model._setup_model()
    model.set_parameters(file.params, exact_match=True, device=device)
    if unreadable is not None:  # predict works; learn() says what to pass
        model.learning_rate = unreadable
        model.lr_schedule = FloatSchedule(unreadable)
    if model.use_sde:
        model.policy.reset_noise()
    if not force_reset:
        restore_last_observations(model, file)
    return model


def restore_last_observations(model: Any, file: ModelFile) -> None:
    """``load(force_reset=False)``: the saved ``_last_obs``, ``_last_episode_starts`` and ``_last_original_obs``
    (VecNormalize's raw observations), if the file holds them and they fit the env; else a warning."""
    try:
        saved = {key: read_array_tree(file.data.get(key), f"{file.name}: data[{key!r}]") for key in LAST_OBSERVATIONS}
    except ModelFileError as e:
        warnings.warn(f"load(force_reset=False): {e}; the env will be reset before training")
        return
    if saved["_last_obs"] is None:
        warnings.warn(
            f"load(force_reset=False): {file.name} holds no last observation (saved before any training); "
            "the env will be reset before training"
        )
        return
    n_envs = model.n_envs if model.env is None else model.env.num_envs
    expected = {"_last_obs": model.observation_space, "_last_original_obs": model.observation_space}
    for key, value in saved.items():
        shapes = {k: v.shape for k, v in value.items()} if isinstance(value, dict) else getattr(value, "shape", None)
        if key == "_last_episode_starts":
            want: Any = (n_envs,)
        elif isinstance(expected[key], spaces.Dict):
            want = {k: (n_envs, *s.shape) for k, s in expected[key].spaces.items()}
        else:
            want = (n_envs, *expected[key].shape)
        if value is not None and shapes != want:
            warnings.warn(
                f"load(force_reset=False): {file.name}'s {key} has shape {shapes}, where this env ({n_envs} envs, "
                f"{model.observation_space}) gives {want}; the env will be reset before training"
            )
            return
    model._last_obs, model._last_episode_starts = saved["_last_obs"], saved["_last_episode_starts"]
    model._last_original_obs = saved["_last_original_obs"]


def save_model(model: Any, base_save: Callable, path, exclude=None, include=None) -> None:
    """SB3's save, naming the reference's policy class (SB3's, or sb3-contrib's maskable one) and SB3's extractor
    classes in the file (the weights have their layout): the reference's ``load`` then builds its own torch policy
    from the file, and ours maps them back to ours. Without the reference installed, the file names our class."""
    import importlib

    import stable_baselines3.common.torch_layers as sb3_layers

    ref = model.file_reference()
    ours, ours_kwargs = model.policy_class, model.policy_kwargs
    name = {cls: n for n, cls in ref.classes.items()}.get(ours)
    extractor = model.policy_kwargs.get("features_extractor_class")
    try:
        if name is not None:
            try:
                model.policy_class = getattr(importlib.import_module(ref.module), name)
            except ImportError:  # sb3-contrib is an extra: the file then names ours, which only we read
                pass
        if isinstance(extractor, type) and extractor.__module__ == "sb3_scratch_ppo.nn.extractors":
            model.policy_kwargs = {**ours_kwargs, "features_extractor_class": getattr(sb3_layers, extractor.__name__)}
        base_save(path, exclude, include)
    finally:
        model.policy_class, model.policy_kwargs = ours, ours_kwargs


class ModelFiles:
    """SB3's ``load``, ``save`` and ``set_parameters`` for ScratchPPO, which mixes this in before OnPolicyAlgorithm:
    the same signatures, with the file read by ``model_file`` and written by SB3's ``save`` (``super()``)."""

    @classmethod
    def file_reference(cls) -> Reference:
        """Whose files this learner reads and writes: SB3's PPO's (ScratchMaskablePPO: sb3-contrib's MaskablePPO's)."""
        return Reference("stable_baselines3.common.policies", SB3_POLICIES, POLICY_ALIASES, "ScratchPPO", "SB3's PPO")

    @classmethod
    def load(
        cls,
        path,
        env=None,
        device="auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs,
    ) -> Any:
        """Load a model saved by ScratchPPO or SB3's PPO, as SB3's ``load`` does, but nothing in the file is
        unpickled or imported (``load_model``)."""
        return load_model(cls, path, env, device, custom_objects, print_system_info, force_reset, **kwargs)

    def save(self, path, exclude=None, include=None) -> None:
        """SB3's save, naming SB3's policy and extractor classes in the file (``save_model``)."""
        save_model(self, super().save, path, exclude, include)  # type: ignore[misc]

    def set_parameters(self, load_path_or_dict, exact_match: bool = True, device="auto") -> None:
        """SB3's set_parameters; a file is read by model_file (tensors weights-only, clear errors)."""
        if not isinstance(load_path_or_dict, dict):
            load_path_or_dict = read(load_path_or_dict).params
        super().set_parameters(load_path_or_dict, exact_match, device)  # type: ignore[misc]
