"""ScratchMaskablePPO: sb3-contrib's MaskablePPO (PPO with invalid action masking), a drop-in, built from ScratchPPO.

    from sb3_scratch_ppo import ScratchMaskablePPO      # instead of: from sb3_contrib import MaskablePPO
    model = ScratchMaskablePPO("MlpPolicy", env).learn(100_000)   # env has action_masks(), or an ActionMasker
    action, _ = model.predict(obs, action_masks=env.action_masks())

Masking is a part that slots into ScratchPPO, nothing is copied (Huang & Ontanon 2020, https://arxiv.org/abs/2006.14171):

- at every rollout step the env says which actions are valid (``action_masks()`` of each env, as sb3-contrib's
  ``get_action_masks``: ``env_method`` for a VecEnv, one call for a vectorized env that offers it);
- the storage keeps each step's masks (``rollout.py``); the policy's distribution gives masked actions logit -1e8
  (``nn/masking.py``; the policies are in ``policies.py``), so they are never sampled;
- the loss evaluates log pi(a|s) and the entropy under the stored masks (``loss.py``), with their gradients.

Everything else (GAE, the clipped objective, Adam, the callbacks, the logs) is ScratchPPO's, with MaskablePPO's
signature: no gSDE, Discrete / MultiDiscrete / MultiBinary actions, ``batch_size=None`` for one minibatch,
``learn(use_masking=True)``, ``predict(action_masks=...)``, and no PPO batch-size checks or warnings.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, TypeVar

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from sb3_scratch_ppo.files.model_file import Reference
from sb3_scratch_ppo.policies import MASKABLE_POLICY_ALIASES, SB3_CONTRIB_POLICIES, our_policy_class
from sb3_scratch_ppo.ppo import ScratchPPO
from sb3_scratch_ppo.vec_env import VectorEnvAdapter

SelfScratchMaskablePPO = TypeVar("SelfScratchMaskablePPO", bound="ScratchMaskablePPO")
EXPECTED_METHOD_NAME = "action_masks"  # sb3-contrib's


def get_action_masks(env: Any) -> np.ndarray:
    """Every env's action mask, stacked: sb3-contrib's ``get_action_masks``; one call for a vectorized env that
    offers ``action_masks()`` itself (all its envs' masks at once)."""
    if isinstance(env, VectorEnvAdapter) and hasattr(env.vector_env, EXPECTED_METHOD_NAME):
        return np.asarray(getattr(env.vector_env, EXPECTED_METHOD_NAME)())
    if isinstance(env, VecEnv):
        return np.stack(env.env_method(EXPECTED_METHOD_NAME))
    return np.asarray(env.get_wrapper_attr(EXPECTED_METHOD_NAME)())


def is_masking_supported(env: Any) -> bool:
    """Whether the env offers ``action_masks()`` (sb3-contrib's ``is_masking_supported``)."""
    if isinstance(env, VectorEnvAdapter) and hasattr(env.vector_env, EXPECTED_METHOD_NAME):
        return True
    if isinstance(env, VecEnv):
        return env.has_attr(EXPECTED_METHOD_NAME)
    try:
        env.get_wrapper_attr(EXPECTED_METHOD_NAME)
        return True
    except AttributeError:
        return False


class ScratchMaskablePPO(ScratchPPO):
    """sb3-contrib's MaskablePPO, in NumPy: same parameters, defaults and behaviour (see the module docstring)."""

    policy_aliases: ClassVar[dict[str, type]] = MASKABLE_POLICY_ALIASES
    our_policy_class = staticmethod(functools.partial(our_policy_class, masks_actions=True))
    action_spaces: ClassVar[tuple] = (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
    checks_ppo_batch: ClassVar[bool] = False  # sb3-contrib's MaskablePPO has none of PPO's batch checks

    def __init__(
        self,
        policy: str | type,
        env,
        learning_rate=3e-4,
        n_steps: int = 2048,
        batch_size: int | None = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range=0.2,
        clip_range_vf=None,
        normalize_advantage: bool = True,
        ent_coef=0.0,
        vf_coef=0.5,
        max_grad_norm: float = 0.5,
        rollout_buffer_class: type | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device="auto",
        _init_setup_model: bool = True,
    ):
        self.use_masking = self._masking_now = True  # learn(use_masking=...) sets it for the rollouts it runs
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,  # type: ignore[arg-type]  # None: one minibatch (RolloutStorage.minibatches)
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    @classmethod
    def file_reference(cls) -> Reference:
        """Files as sb3-contrib's MaskablePPO writes them: its maskable policy classes, read and written."""
        module = "sb3_contrib.common.maskable.policies"
        return Reference(
            module, SB3_CONTRIB_POLICIES, MASKABLE_POLICY_ALIASES, "ScratchMaskablePPO", "sb3-contrib's MaskablePPO"
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "use_masking", "_masking_now"]  # ours alone: not in its files

    def collect_rollouts(self, env, callback, rollout_buffer, n_rollout_steps: int, use_masking: bool = True) -> bool:
        """ScratchPPO's rollout, with each step's action masks read from the env, acted on and stored."""
        self._masking_now = use_masking and self.use_masking
        if self._masking_now and not is_masking_supported(env):
            raise ValueError("Environment does not support action masking. Consider using ActionMasker wrapper")
        return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)

    def _action_masks(self, env) -> np.ndarray | None:
        return get_action_masks(env) if self._masking_now else None

    def predict(  # type: ignore[override]
        self,
        observation,
        state=None,
        episode_start=None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ):
        """sb3-contrib's: the policy's actions, under ``action_masks`` if given."""
        return self.policy.predict(observation, state, episode_start, deterministic, action_masks=action_masks)

    def learn(  # type: ignore[override]
        self: SelfScratchMaskablePPO,
        total_timesteps: int,
        callback=None,
        log_interval: int = 1,
        tb_log_name: str = "MaskablePPO",
        reset_num_timesteps: bool = True,
        use_masking: bool = True,
        progress_bar: bool = False,
    ) -> SelfScratchMaskablePPO:
        """sb3-contrib's learn: ``use_masking=False`` trains without masks (every action allowed)."""
        self.use_masking = use_masking
        try:
            return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
        finally:
            self.use_masking = True
