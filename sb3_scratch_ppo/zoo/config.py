"""Hyperparameters in rl-baselines3-zoo's YAML format: one loader for stable_baselines3.PPO and ScratchPPO alike.

    config = zoo.load("CartPole-v1")                  # the package's configs/ppo.yml by default
    env = config.make_env(seed=0)                     # n_envs copies, VecNormalize if the entry asks for it
    model = ScratchPPO(config.policy, env, seed=0, **config.kwargs)   # or stable_baselines3.PPO
    model.learn(config.n_timesteps)

The zoo's conventions: ``lin_<x>`` is the schedule ``x * progress_remaining``; ``policy_kwargs``
is a string holding a ``dict(...)`` literal (parsed here with a small parser, never ``eval``);
``normalize`` is true or a dict literal of VecNormalize arguments. Atari games (ALE, the ``atari``
extra) take the ``atari`` entry when they have none of their own, as the zoo does: ``env_wrapper``
and ``frame_stack`` (VecFrameStack); SB3's algorithms add VecTransposeImage. ``configs/atari.yml`` holds
the zoo's section. ``env_wrapper`` names a class or a list of classes, applied in order (the first is
innermost), each optionally ``{name: kwargs}``; only the classes in ENV_WRAPPERS are accepted: a config
file names classes, it never runs code. ``configs/observations.yml`` uses minigrid's pixel wrappers;
``configs/maskable.yml`` holds masked tasks, for MaskablePPO and ScratchMaskablePPO.
"""

from __future__ import annotations

import ast
import functools
import importlib.resources
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sb3_scratch_ppo.schedules import zoo_text

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# The configs ship inside the package (package data): read through importlib.resources, never from a source tree.
CONFIGS = importlib.resources.files("sb3_scratch_ppo.zoo") / "configs"
DEFAULT_PATH = CONFIGS / "ppo.yml"
ATARI_PATH = CONFIGS / "atari.yml"
OBSERVATIONS_PATH = CONFIGS / "observations.yml"
MUJOCO_PATH = CONFIGS / "mujoco.yml"
MASKABLE_PATH = CONFIGS / "maskable.yml"  # for sb3_contrib.MaskablePPO and ScratchMaskablePPO

# Keys of an entry that are not constructor arguments.
ZOO_KEYS = {"n_envs", "n_timesteps", "policy", "normalize", "policy_kwargs", "env_wrapper", "frame_stack"}
# The env wrappers an entry may name (the zoo imports any dotted path; a config file here never imports code).
ENV_WRAPPERS = {
    "stable_baselines3.common.atari_wrappers.AtariWrapper",
    "minigrid.wrappers.RGBImgObsWrapper",  # the `minigrid` extra: MiniGrid's grid drawn as an RGB image
    "minigrid.wrappers.ImgObsWrapper",  # ... and that image alone as the observation
    "scratch_envs.masked.TaxiActionMasks",  # Taxi's legal actions as action_masks(), for MaskablePPO
}
# The zoo reads lin_<x> for the first three; ScratchPPO also takes schedules for the two coefficients (SB3 does not).
SCHEDULED = {"learning_rate", "clip_range", "clip_range_vf", "ent_coef", "vf_coef"}


class ConfigError(ValueError):
    """A zoo entry that cannot be used; the message names the file and the key."""


def _ppo_parameters() -> list[str]:
    """PPO's hyperparameter names, from SB3's signature (ScratchPPO's is the same: tests/test_api.py)."""
    from stable_baselines3 import PPO

    not_hyperparameters = ("self", "policy", "env", "_init_setup_model")
    return [p for p in inspect.signature(PPO.__init__).parameters if p not in not_hyperparameters]


def parse_literal(text: str, where: str) -> Any:
    """Parse the zoo's Python-literal strings: dict(...), {...}, [...], numbers, strings, True/False/None, nn.<Activation>.

    Anything else (calls other than dict, names, expressions) is refused with an error naming ``where``.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ConfigError(f"{where}: cannot parse {text!r}: {e.msg}") from e

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
        ):
            number = value(node.operand)
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(v) for v in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
            return {value(k): value(v) for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            return {kw.arg: value(kw.value) for kw in node.keywords if kw.arg is not None}
        if isinstance(node, ast.Attribute):
            return _torch_nn_class(ast.unparse(node), where)
        raise ConfigError(
            f"{where}: {ast.unparse(node)!r} is not allowed in {text!r}; expected literals, dict(...) "
            "and nn.<Activation> names"
        )

    return value(tree.body)


def _torch_nn_class(dotted: str, where: str) -> type:
    prefix, _, name = dotted.rpartition(".")
    if prefix not in ("nn", "th.nn", "torch.nn"):
        raise ConfigError(f"{where}: {dotted!r} is not allowed; only torch.nn classes such as nn.ReLU")
    import torch.nn  # activation classes are how SB3 users name activations

    cls = getattr(torch.nn, name, None)
    if not isinstance(cls, type):
        raise ConfigError(f"{where}: torch.nn has no class {name!r}")
    return cls


def _schedule(value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            return zoo_text(value)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from e
    return value


@dataclass
class ZooConfig:
    """One entry: what to build, how long to train, and constructor kwargs valid for PPO and ScratchPPO."""

    env_id: str
    n_timesteps: int
    n_envs: int = 1
    policy: str = "MlpPolicy"
    normalize: dict[str, Any] | None = None  # VecNormalize kwargs, or None
    kwargs: dict[str, Any] = field(default_factory=dict)
    path: Path | Traversable = DEFAULT_PATH  # a file, or the package's own
    env_wrapper: tuple[tuple[str, dict[str, Any]], ...] = ()  # (dotted class name in ENV_WRAPPERS, its kwargs), ...
    frame_stack: int | None = None

    @property
    def uses_sde(self) -> bool:
        return bool(self.kwargs.get("use_sde", False))

    def make_env(
        self, seed: int | None = None, n_envs: int | None = None, training: bool = True, vec_env_cls=None, fast: bool = False
    ):
        """The vectorized env of this entry: ``make_vec_env`` with n_envs copies, then VecNormalize if asked.

        ``fast=True``: sb3_scratch_ppo's make_vec_env (the native vectorized env where there is one,
        with the same transitions); otherwise SB3's, as the zoo does.
        """
        from stable_baselines3.common import env_util
        from stable_baselines3.common.vec_env import VecNormalize

        import scratch_envs  # noqa: F401  (ScratchCartPole-v0)
        from sb3_scratch_ppo import vec_env

        make_vec_env = vec_env.make_vec_env if fast else env_util.make_vec_env
        wrapper = {}
        if self.env_wrapper:
            make_vec_env = env_util.make_vec_env  # the fast path has no wrapper_class
            wrapper = {
                "wrapper_class": functools.partial(
                    _wrap, wrappers=[(_import_wrapper(name), kwargs) for name, kwargs in self.env_wrapper]
                )
            }
        if is_atari(self.env_id) or _register_minigrid(self.env_id):
            make_vec_env = env_util.make_vec_env
        env = make_vec_env(self.env_id, n_envs=n_envs or self.n_envs, seed=seed, vec_env_cls=vec_env_cls, **wrapper)
        if self.frame_stack is not None:
            from stable_baselines3.common.vec_env import VecFrameStack

            env = VecFrameStack(env, self.frame_stack)
        if self.normalize is not None:
            env = VecNormalize(
                env,
                training=training,
                norm_reward=training and self.normalize.get("norm_reward", True),
                **{k: v for k, v in self.normalize.items() if k != "norm_reward"},
            )
        return env

    def make_eval_env(self, train_env, seed: int):
        """One env for evaluation, seeded apart from training. With ``normalize`` it sees observations as the agent
        learned them: normalized with ``train_env``'s statistics, frozen, rewards as they are."""
        env = self.make_env(seed=seed, n_envs=1, training=False)
        if self.normalize is not None:
            env.obs_rms = train_env.obs_rms
        return env


def read_entries(path: str | Path | Traversable | None = None) -> dict[str, dict[str, Any]]:
    path = _path(path)
    if not path.is_file():
        raise FileNotFoundError(f"zoo config file {path} not found; pass path= to a ppo.yml in rl-baselines3-zoo's format")
    entries = yaml.safe_load(path.read_text())
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: expected a mapping of env ids to hyperparameters")
    return entries


def is_atari(env_id: str) -> bool:
    """An ALE game (the zoo's test: the entry point names AtariEnv). Registers ALE's envs when ale-py is installed."""
    import gymnasium as gym

    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:
        pass
    try:
        return "AtariEnv" in str(gym.spec(env_id).entry_point)
    except gym.error.Error:
        return False


def _register_minigrid(env_id: str) -> bool:
    """Register MiniGrid's envs (the `minigrid` extra) if ``env_id`` is one of them, as the zoo does by importing it."""
    if not env_id.startswith("MiniGrid-"):
        return False
    try:
        import minigrid  # noqa: F401  (registers MiniGrid-*)
    except ImportError as e:
        raise ImportError(f"{env_id} needs minigrid: pip install 'sb3-scratch-ppo[minigrid]'") from e
    return True


def _import_wrapper(name: str) -> type:
    """The class of an allow-listed dotted name (checked again here: this is the one place that imports)."""
    import importlib

    if name not in ENV_WRAPPERS:
        raise ConfigError(f"env wrapper {name!r} is not one of {sorted(ENV_WRAPPERS)}")
    module, _, cls = name.rpartition(".")
    return getattr(importlib.import_module(module), cls)


def _wrap(env, wrappers: list[tuple[type, dict[str, Any]]]):
    for cls, kwargs in wrappers:
        env = cls(env, **kwargs)
    return env


def _env_wrapper(value: Any, where: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The zoo's env_wrapper: a dotted class name or {name: kwargs}, alone or in a list applied in order (the
    zoo's atari section writes a list of one); only names in ENV_WRAPPERS."""
    items = value if isinstance(value, list) and value else [value]
    wrappers = []
    for item in items:
        name, kwargs = None, None
        if isinstance(item, str):
            name, kwargs = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            [(name, kwargs)] = item.items()
        if name not in ENV_WRAPPERS or not isinstance(kwargs or {}, dict):
            raise ConfigError(
                f"{where}: {item!r}: the env wrappers accepted are {sorted(ENV_WRAPPERS)} (a class "
                "name, or {name: kwargs}, alone or in a list); a config file never imports other code"
            )
        wrappers.append((name, dict(kwargs or {})))
    return tuple(wrappers)


def _normalize(value: Any, gamma: float, where: str) -> dict[str, Any] | None:
    """The zoo's normalize: false, true or a dict literal of VecNormalize arguments -> those arguments, or None."""
    if isinstance(value, str):
        value = parse_literal(value, where)
    if value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected true, false or a dict literal, got {value!r}")
    return {"gamma": gamma, **value}  # as the zoo: VecNormalize discounts like the agent


def _path(path: str | Path | Traversable | None) -> Path | Traversable:
    """A config file: the given one, or the package's ppo.yml."""
    return DEFAULT_PATH if path is None else Path(path) if isinstance(path, str) else path


def load(env_id: str, path: str | Path | Traversable | None = None) -> ZooConfig:
    """Read the entry for ``env_id`` and turn it into a ZooConfig; errors name the file and the key. An Atari game
    without an entry of its own takes the file's ``atari`` entry, as in the zoo."""
    path = _path(path)
    entries = read_entries(path)
    name = env_id
    if env_id not in entries and "atari" in entries and is_atari(env_id):
        name = "atari"
    if name not in entries:
        raise KeyError(f"{path}: no entry for env id {env_id!r}; entries: {sorted(entries)}")
    entry = entries[name]
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {env_id}: expected a mapping of hyperparameters, got {entry!r}")
    allowed = set(_ppo_parameters())
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        where = f"{path}: {env_id}.{key}"
        if key in ZOO_KEYS:
            continue
        if key not in allowed:
            raise ConfigError(f"{where}: unknown hyperparameter {key!r}; PPO takes {sorted(allowed)}")
        kwargs[key] = _schedule(value, where) if key in SCHEDULED else value
    if "policy_kwargs" in entry:
        where = f"{path}: {env_id}.policy_kwargs"
        policy_kwargs = entry["policy_kwargs"]
        policy_kwargs = parse_literal(policy_kwargs, where) if isinstance(policy_kwargs, str) else policy_kwargs
        if not isinstance(policy_kwargs, dict):
            raise ConfigError(f"{where}: expected a dict(...), got {policy_kwargs!r}")
        kwargs["policy_kwargs"] = policy_kwargs
    normalize = _normalize(entry.get("normalize", False), kwargs.get("gamma", 0.99), f"{path}: {env_id}.normalize")
    for key, kind in (("n_timesteps", (int, float)), ("n_envs", int)):
        if key in entry and (not isinstance(entry[key], kind) or isinstance(entry[key], bool) or entry[key] <= 0):
            raise ConfigError(f"{path}: {env_id}.{key}: expected a positive number, got {entry[key]!r}")
    if "n_timesteps" not in entry:
        raise ConfigError(f"{path}: {env_id}: n_timesteps is missing")
    env_wrapper = _env_wrapper(entry["env_wrapper"], f"{path}: {env_id}.env_wrapper") if "env_wrapper" in entry else ()
    frame_stack = entry.get("frame_stack")
    if frame_stack is not None and (not isinstance(frame_stack, int) or isinstance(frame_stack, bool) or frame_stack < 1):
        raise ConfigError(f"{path}: {env_id}.frame_stack: expected a positive integer, got {frame_stack!r}")
    return ZooConfig(
        env_id=env_id,
        n_timesteps=int(entry["n_timesteps"]),
        n_envs=int(entry.get("n_envs", 1)),
        policy=entry.get("policy", "MlpPolicy"),
        normalize=normalize,
        kwargs=kwargs,
        path=path,
        env_wrapper=env_wrapper,
        frame_stack=frame_stack,
    )
