"""Checkpoints for exact resume: everything the next step of training depends on, in files that are never unpickled.

A checkpoint is a model zip (``ScratchPPO.save``'s, loadable by ``ScratchPPO.load`` and SB3) with two more members:
``checkpoint.json`` (counters, generator states, episode statistics) and ``checkpoint.npz`` (arrays, read with
``allow_pickle=False``). Together they hold the weights, Adam's state, ``num_timesteps`` and progress, the schedules,
NumPy's global generator and the policy's, VecNormalize's statistics, the last observations and episode starts, the
episode-info buffers, and the env's own state where the env can give it (``get_state`` / ``set_state``: the fast
path's vectorized CartPole can). An env that cannot is reset on resume, with a warning: training continues, but not
the same steps. Written to a temporary file and renamed, so a crash leaves the previous checkpoint whole.

    model.learn(total, callback=ResumableCheckpointCallback(10_000, "ckpt/"))   # killed at any moment
    model = load_checkpoint(latest("ckpt/"), env=same_kind_of_env)
    model.learn(total - model.num_timesteps, reset_num_timesteps=False)       # the same weights, bit for bit

Checkpoints are taken between iterations (at the start of a rollout), where the rollout storage is empty.
With gSDE, the exploration matrices are drawn again on resume (from the restored generator, so still seeded).
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_scratch_ppo.files import model_file

FORMAT = 1


def _split(tree: Any, arrays: dict[str, np.ndarray], path: str = "") -> Any:
    """JSON for ``tree`` with each ndarray replaced by {"__array__": name}, the arrays collected by name."""
    if isinstance(tree, np.ndarray):
        if tree.dtype == object:
            raise TypeError(f"checkpoint: {path} is an object array; only numeric arrays are stored")
        arrays[path] = tree
        return {"__array__": path}
    if isinstance(tree, dict):
        return {str(k): _split(v, arrays, f"{path}/{k}") for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_split(v, arrays, f"{path}/{i}") for i, v in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join(tree: Any, arrays: Any) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _join(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, arrays) for v in tree]
    return tree


def _vec_normalize(env: VecEnv | None) -> VecNormalize | None:
    while env is not None and not isinstance(env, VecNormalize):
        env = getattr(env, "venv", None)
    return env


def _base_env(env: VecEnv | None) -> Any:
    while env is not None and hasattr(env, "venv"):
        env = env.venv
    return env


def _rms(rms) -> dict[str, Any]:
    return {"mean": np.asarray(rms.mean), "var": np.asarray(rms.var), "count": float(rms.count)}


def _set_rms(rms, saved: dict[str, Any]) -> None:
    rms.mean, rms.var, rms.count = np.array(saved["mean"]), np.array(saved["var"]), saved["count"]


def state_of(model) -> dict[str, Any]:
    """Everything beyond the model zip that the next step depends on (a tree of JSON values and arrays)."""
    mt, key, pos, has_gauss, cached = np.random.get_state()
    norm = _vec_normalize(model.env)
    base = _base_env(model.env)
    env_state = base.get_state() if hasattr(base, "get_state") else None
    return {
        "format": FORMAT,
        "numpy_global": {"name": mt, "key": key, "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "policy_rng": model.policy.rng.bit_generator.state,
        "last_obs": model._last_obs,
        "last_episode_starts": model._last_episode_starts,
        "last_original_obs": model._last_original_obs,
        "ep_info_buffer": [dict(i) for i in (model.ep_info_buffer or [])],
        "ep_success_buffer": [bool(s) for s in (model.ep_success_buffer or [])],
        "vec_normalize": None
        if norm is None
        else {
            "obs_rms": (
                {k: _rms(r) for k, r in norm.obs_rms.items()} if isinstance(norm.obs_rms, dict) else _rms(norm.obs_rms)
            )
            if norm.norm_obs
            else None,
            "ret_rms": _rms(norm.ret_rms),
            "returns": norm.returns,
            "old_obs": getattr(norm, "old_obs", None),
            "old_reward": norm.old_reward,
        },
        "env": env_state,
    }


def save_checkpoint(model, path: str | Path) -> Path:
    """Write ``model``'s checkpoint to ``path`` atomically (a temporary file, flushed, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    tree = _split(state_of(model), arrays)
    buffer = io.BytesIO()
    model.save(buffer)  # the model zip, then our two members appended to it
    npz = io.BytesIO()
    np.savez(npz, **arrays)
    with zipfile.ZipFile(buffer, "a") as z:
        z.writestr("checkpoint.json", json.dumps(tree))
        z.writestr("checkpoint.npz", npz.getvalue())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, env: VecEnv | None = None, **load_kwargs):
    """The model of a checkpoint, ready to ``learn(total - model.num_timesteps, reset_num_timesteps=False)`` and
    take the steps the interrupted run would have taken. ``env``: a new env of the same kind (same id, n_envs and
    wrappers); its state is set from the checkpoint where it can be, else it is reset (with a warning)."""
    from sb3_scratch_ppo.ppo import ScratchPPO

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            tree = json.loads(z.read("checkpoint.json"))
            with np.load(io.BytesIO(z.read("checkpoint.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except KeyError as e:
        raise model_file.ModelFileError(
            f"{path}: a model file, not a checkpoint (no {e}); load it with ScratchPPO.load"
        ) from e
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise model_file.ModelFileError(f"{path}: not a readable checkpoint: {e}") from e
    state = _join(tree, arrays)
    if state.get("format") != FORMAT:
        raise model_file.ModelFileError(f"{path}: checkpoint format {state.get('format')!r}; this version reads {FORMAT}")
    model = ScratchPPO.load(path, env=env, **load_kwargs)
    restore(model, state, str(path))
    return model


def restore(model, state: dict[str, Any], name: str) -> None:
    g = state["numpy_global"]
    np.random.set_state((g["name"], np.asarray(g["key"], dtype=np.uint32), g["pos"], g["has_gauss"], g["cached"]))
    model.policy.rng.bit_generator.state = state["policy_rng"]
    model.ep_info_buffer = deque(state["ep_info_buffer"], maxlen=model._stats_window_size)
    model.ep_success_buffer = deque(state["ep_success_buffer"], maxlen=model._stats_window_size)
    if model.env is None:
        return
    norm = _vec_normalize(model.env)
    saved_norm = state["vec_normalize"]
    if (norm is None) != (saved_norm is None):
        raise ValueError(
            f"{name}: the checkpoint was {'not ' if saved_norm is None else ''}taken with VecNormalize; "
            "resume with the same kind of env"
        )
    if norm is not None:
        if saved_norm["obs_rms"] is not None:
            if isinstance(norm.obs_rms, dict):
                for k, r in norm.obs_rms.items():
                    _set_rms(r, saved_norm["obs_rms"][k])
            else:
                _set_rms(norm.obs_rms, saved_norm["obs_rms"])
        _set_rms(norm.ret_rms, saved_norm["ret_rms"])
        norm.returns = np.array(saved_norm["returns"])
        norm.old_obs, norm.old_reward = saved_norm["old_obs"], np.array(saved_norm["old_reward"])
    base = _base_env(model.env)
    if state["env"] is not None and hasattr(base, "set_state"):
        base.set_state(state["env"])
        model._last_obs = state["last_obs"]
        model._last_episode_starts = state["last_episode_starts"]
        model._last_original_obs = state["last_original_obs"]
    else:
        warnings.warn(
            f"{name}: the env cannot save and restore its state ({type(base).__name__}), so it is reset on "
            "resume: training continues from the checkpoint's weights, optimizer and generators, but on new "
            "episodes, not the steps the interrupted run would have taken"
        )
        model._last_obs = None  # learn() resets the env


class ResumableCheckpointCallback(BaseCallback):
    """Every ``save_freq`` steps (at the start of the next rollout), and at the end of ``learn()``, a checkpoint
    ``{save_path}/{name_prefix}_{num_timesteps}_steps.zip``; the last ``keep`` of them are kept (None: all)."""

    def __init__(
        self, save_freq: int, save_path: str | Path, name_prefix: str = "checkpoint", keep: int | None = 2, verbose: int = 0
    ):
        super().__init__(verbose)
        if save_freq < 1:
            raise ValueError(f"save_freq={save_freq}: expected an integer >= 1")
        self.save_freq, self.save_path, self.name_prefix, self.keep = save_freq, Path(save_path), name_prefix, keep
        self._last_saved, self._rollout_done = None, False

    def _on_training_start(self) -> None:
        self._last_saved = self.num_timesteps

    def _on_rollout_start(self) -> None:
        self._rollout_done = False
        if self.num_timesteps - self._last_saved >= self.save_freq:
            self._save()

    def _on_rollout_end(self) -> None:
        self._rollout_done = True

    def _on_training_end(self) -> None:
        # The end of learn() is between iterations too, unless a callback stopped it in the middle of a rollout.
        if self.num_timesteps > self._last_saved and self._rollout_done:
            self._save()

    def _save(self) -> None:
        path = save_checkpoint(self.model, self.save_path / f"{self.name_prefix}_{self.num_timesteps}_steps.zip")
        self._last_saved = self.num_timesteps
        if self.verbose:
            print(f"Saving checkpoint to {path}")
        if self.keep is not None:
            for old in checkpoints(self.save_path, self.name_prefix)[: -self.keep]:
                old.unlink(missing_ok=True)

    def _on_step(self) -> bool:
        return True


def checkpoints(folder: str | Path, name_prefix: str = "checkpoint") -> list[Path]:
    """The complete checkpoints in ``folder``, oldest first (by step count)."""
    pattern = re.compile(rf"{re.escape(name_prefix)}_(\d+)_steps\.zip")
    found = [(int(m[1]), p) for p in Path(folder).glob(f"{name_prefix}_*_steps.zip") if (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def latest(folder: str | Path, name_prefix: str = "checkpoint") -> Path:
    found = checkpoints(folder, name_prefix)
    if not found:
        raise FileNotFoundError(f"no checkpoint {name_prefix}_<steps>_steps.zip in {folder}")
    return found[-1]
