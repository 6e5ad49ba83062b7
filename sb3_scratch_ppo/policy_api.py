"""SB3's policy API on our NumPy actor-critic: what SB3's ``BaseModel`` and ``BasePolicy`` offer users and SB3's own
code (predict, obs_to_tensor, scale_action, set_training_mode, to, parameters, state_dict / load_state_dict in SB3's
layout). A mixin: ``ActorCriticPolicy`` (policy.py) is the network, this is how SB3 talks to it."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, cast

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space, maybe_transpose
from stable_baselines3.common.utils import is_vectorized_observation

from sb3_scratch_ppo.nn.gsde import StateDependentNoise
from sb3_scratch_ppo.optimizer import to_numpy
from sb3_scratch_ppo.policy_distribution import PolicyDistribution, as_torch


def _is_torch(value: Any) -> bool:
    """A torch tensor (or a dict of them), told apart without importing torch."""
    if isinstance(value, dict):
        return any(_is_torch(v) for v in value.values())
    return type(value).__module__.startswith("torch")


def _as_input(array: np.ndarray, spec: Any, preprocess: Any) -> np.ndarray:
    """``array`` if it has the network input's shape and dtype (``spec``: a shape, or (shape, dtype); float32 when
    only a shape), else ``preprocess(array)``: a raw observation batch."""
    shape, dtype = spec if len(spec) == 2 and isinstance(spec[0], tuple) else (spec, np.float32)
    if array.shape[1:] == tuple(shape) and array.dtype == dtype:
        return array
    return preprocess(array)


class SB3PolicyAPI:
    """SB3's policy surface over the network's ``preprocess``, ``actions_from``, ``env_actions`` and ``param_views``."""

    observation_space: spaces.Space
    action_space: spaces.Space
    param_views: OrderedDict[str, np.ndarray]
    # The network's side (ActorCriticPolicy): what this API is built on.
    features_extractor: Any
    vf_features_extractor: Any
    mlp_extractor: Any
    action_net: Any
    action_dist: Any
    log_std: Any
    rng: np.random.Generator

    masks_actions = False  # True for ScratchMaskablePPO's policies (policies.py), which take action_masks

    def _mask(self, action_masks: Any) -> dict[str, Any]:
        """The distribution's keyword for action masks: none without masks; refused by a policy that does not mask."""
        if action_masks is None:
            return {}
        if not self.masks_actions:
            raise ValueError("action_masks: this policy does not mask actions; ScratchMaskablePPO's policies do")
        return {"masks": action_masks}

    def input_spec(self) -> Any:
        raise NotImplementedError

    def evaluate_with_cache(self, x: Any, actions: np.ndarray, action_masks: Any = None) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def preprocess(self, obs: Any, out: Any = None) -> Any:
        raise NotImplementedError

    def actions_from(self, x: Any, deterministic: bool, action_masks: Any = None) -> np.ndarray:
        raise NotImplementedError

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def unscale_action(self, scaled_action: np.ndarray) -> np.ndarray:
        """SB3's: from [-1, 1] to [low, high]."""
        low, high = cast(spaces.Box, self.action_space).low, cast(spaces.Box, self.action_space).high
        return low + (0.5 * (scaled_action + 1.0) * (high - low))

    def scale_action(self, action: np.ndarray) -> np.ndarray:
        """SB3's: from [low, high] to [-1, 1]."""
        low, high = cast(spaces.Box, self.action_space).low, cast(spaces.Box, self.action_space).high
        return 2.0 * ((action - low) / (high - low)) - 1.0

    def obs_to_tensor(self, observation: Any) -> tuple[Any, bool]:
        """SB3's obs_to_tensor: one observation or a batch (per key for dicts; channel-last images transposed) ->
        the network input, and whether it was a batch."""
        if isinstance(observation, dict):
            if not isinstance(self.observation_space, spaces.Dict):
                raise ValueError(
                    f"predict() got a dict observation, but the observation space is "
                    f"{self.observation_space}; dict observations need a Dict space and MultiInputPolicy"
                )
            batch, vectorized = {}, False
            for key, obs in observation.items():
                space = self.observation_space.spaces[key]
                obs = maybe_transpose(obs, space) if is_image_space(space) else np.array(obs)
                vectorized = vectorized or is_vectorized_observation(obs, space)
                batch[key] = obs.reshape((-1, *space.shape))
            return self.preprocess(batch), vectorized
        if isinstance(self.observation_space, spaces.Dict):
            raise ValueError(
                f"predict() got a {type(observation).__name__}, but the observation space is "
                f"{self.observation_space}: pass a dict with its keys"
            )
        if is_image_space(self.observation_space):
            observation = maybe_transpose(observation, self.observation_space)  # channel-last images are accepted too
        observation = np.array(observation)
        vectorized = is_vectorized_observation(observation, self.observation_space)
        return self.preprocess(observation.reshape((-1, *self.observation_space.shape))), vectorized

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False, action_masks=None):
        """SB3's BasePolicy.predict: actions for one observation or a batch, Box actions clipped to the bounds
        (``action_masks``: sb3-contrib's, for ScratchMaskablePPO's policies)."""
        if isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict):
            raise ValueError(
                "You have passed a tuple to the predict() function instead of a Numpy array or a Dict. "
                "You are probably mixing Gym API with SB3 VecEnv API: `obs, info = env.reset()` (Gym) "
                "vs `obs = vec_env.reset()` (SB3 VecEnv)."
            )
        self.set_training_mode(False)  # as SB3's predict: eval mode (dropout off, batch norm's running statistics)
        x, vectorized = self.obs_to_tensor(observation)
        masks = {} if action_masks is None else {"action_masks": action_masks}
        actions = np.asarray(self.actions_from(x, deterministic, **masks)).reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = self.env_actions(actions)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state

    def network_input(self, obs: Any) -> Any:
        """What SB3's policy methods take as ``obs``, as the network's input: a torch tensor becomes NumPy; an array
        already in the network's input form (``obs_to_tensor``'s output, a rollout's observations: the shape and dtype
        of ``input_spec()``) is used as it is, a raw observation batch (SB3's ``obs_as_tensor``) is preprocessed."""
        spec = self.input_spec()
        if isinstance(spec, dict):
            if not isinstance(obs, dict):
                raise ValueError(f"obs: expected a dict with keys {list(spec)}, got {type(obs).__name__}")
            extractors = self.features_extractor.extractors  # CombinedExtractor: one per key
            return {key: _as_input(to_numpy(obs[key]), spec[key], extractors[key].preprocess) for key in spec}
        return _as_input(to_numpy(obs), spec, self.preprocess)

    def evaluate_actions(self, obs: Any, actions: Any, action_masks: Any = None) -> tuple[Any, Any, Any]:
        """SB3's evaluate_actions: V(s) (B, 1), log pi(a|s) (B,) and the entropy (B,) (None for squashed gSDE, as
        SB3), as torch tensors for torch inputs, NumPy arrays otherwise. No gradients: training runs
        ``evaluate_with_cache`` and ``backprop`` (policy.py)."""
        torch_out = _is_torch(obs) or _is_torch(actions)
        masks = {} if action_masks is None else {"action_masks": to_numpy(action_masks)}
        values, log_prob, entropy, _ = self.evaluate_with_cache(self.network_input(obs), to_numpy(actions), **masks)
        squashed_gsde = isinstance(self.action_dist, StateDependentNoise) and self.action_dist.squash_output
        results = (values[:, None], log_prob, None if squashed_gsde else entropy)
        return tuple(as_torch(r) for r in results) if torch_out else results  # type: ignore[return-value]

    def get_distribution(self, obs: Any, action_masks: Any = None) -> PolicyDistribution:
        """SB3's get_distribution: the action distribution for a batch of observations (policy_distribution.py);
        ``action_masks`` as sb3-contrib's maskable policies take them."""
        x = self.network_input(obs)
        latent_pi = self.mlp_extractor.forward_actor(self.features_extractor.forward(x))
        out = self.action_net.forward(latent_pi)
        masks = self._mask(None if action_masks is None else to_numpy(action_masks)).get("masks")
        return PolicyDistribution(self.action_dist, out, self.log_std, latent_pi, self.rng, _is_torch(obs), masks)

    training = False  # nn.Module's flag: set_training_mode

    def set_training_mode(self, mode: bool) -> None:
        """SB3's: train (True) or eval (False) mode. The built-in layers behave the same in both; a custom extractor
        (dropout, batch norm: nn/base_extractor.py) gets the mode."""
        self.training = mode
        for extractor in (self.features_extractor, self.vf_features_extractor):  # the same one twice when shared
            if hasattr(extractor, "set_training_mode"):
                extractor.set_training_mode(mode)

    _device: Any = None  # set by to(); None: the CPU

    @property
    def device(self) -> Any:
        """SB3's ``policy.device``: the model's device, as SB3 resolves it (``get_device``: cuda under "auto" on a
        machine with a GPU), so ``model.device == model.policy.device`` as in SB3. It says where ``state_dict()``
        puts its tensors; the computation is NumPy on the CPU whatever it says."""
        import torch  # SB3's API speaks torch devices

        return torch.device("cpu") if self._device is None else self._device

    def to(self, device: Any) -> SB3PolicyAPI:
        """Record ``device`` (SB3's ``policy.to``): ``device`` and ``state_dict()`` follow it; the arrays stay NumPy on
        the CPU."""
        from stable_baselines3.common.utils import get_device

        self._device = get_device(device)
        return self

    def save(self, path: Any) -> None:
        """SB3's ``policy.save``: SB3's policy file, which SB3's ``ActorCriticPolicy.load`` reads too
        (files/policy_file.py)."""
        from sb3_scratch_ppo.files.policy_file import save_policy

        save_policy(self, path)

    @classmethod
    def load(cls, path: Any, device: Any = "auto") -> Any:
        """SB3's ``ActorCriticPolicy.load``, for SB3's policy files and ours, read weights-only with an allow-list of
        stand-ins: nothing the file names is imported or run (files/policy_file.py)."""
        from sb3_scratch_ppo.files.policy_file import load_policy

        return load_policy(cls, path, device)

    def parameters(self) -> list[np.ndarray]:
        """Per-parameter views into the flat buffer, in SB3's order."""
        return list(self.param_views.values())

    def state_views(self) -> OrderedDict[str, np.ndarray]:
        """SB3's state_dict layout, as views of our parameters. SB3 registers the features extractor three times
        (``features_extractor``, ``pi_features_extractor``, ``vf_features_extractor``: the same module when shared;
        else the vf one is its own): the same keys, in SB3's order, with the copies as views of the one we hold."""
        views: OrderedDict[str, np.ndarray] = OrderedDict()
        extractor = [(name, v) for name, v in self.param_views.items() if name.startswith("features_extractor.")]
        vf_own = [(name, v) for name, v in self.param_views.items() if name.startswith("vf_features_extractor.")]
        head = [(name, v) for name, v in self.param_views.items() if name == "log_std"]
        extractor += self._buffers("features_extractor")
        if vf_own:
            vf_own += self._buffers("vf_features_extractor")
        views.update(head)
        views.update(extractor)
        views.update((f"pi_{name}", v) for name, v in extractor)
        views.update(vf_own or [(f"vf_{name}", v) for name, v in extractor])
        views.update((name, v) for name, v in self.param_views.items() if name not in views)
        return views

    def _buffers(self, prefix: str) -> list[tuple[str, np.ndarray]]:
        """A custom extractor's saved, unlearned state (batch norm's running statistics), after its parameters."""
        extractor = getattr(self, prefix)
        return extractor.buffer_views(prefix) if hasattr(extractor, "buffer_views") else []

    def state_dict(self) -> OrderedDict[str, Any]:
        """SB3's state_dict: the same keys and shapes, as float32 torch tensors (copies)."""
        import torch  # only for SB3's file format and weight exchange

        return OrderedDict(
            (
                name,
                torch.tensor(np.array(view, dtype=view.dtype if view.dtype.kind in "iu" else np.float32), device=self.device),
            )
            for name, view in self.state_views().items()
        )

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Copy weights from an SB3 state_dict (torch tensors or arrays). The extractor's copies under
        ``pi_features_extractor`` (and ``vf_features_extractor`` when shared) are written to the same parameters."""
        views = self.state_views()
        missing = [k for k in views if k not in state_dict]
        unexpected = [k for k in state_dict if k not in views]
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}. The file was probably saved for another network "
                f"(net_arch, observation or action space); this policy has {list(views)}"
            )
        for name, value in state_dict.items():
            if name not in views:
                continue
            array = to_numpy(value)
            if array.shape != views[name].shape:
                raise RuntimeError(
                    f"Error(s) in loading state_dict for {type(self).__name__}: size mismatch for {name}: "
                    f"copying a param with shape {tuple(array.shape)}, the shape in the current model is "
                    f"{views[name].shape}"
                )
            views[name][...] = array
