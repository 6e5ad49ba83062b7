"""ScratchPPO: Proximal Policy Optimization (clip version) in NumPy, a drop-in for SB3's PPO.

Paper: Schulman et al. 2017, "Proximal Policy Optimization Algorithms", https://arxiv.org/abs/1707.06347.
The semantics are SB3's PPO, detail by detail; the names are SB3's. SB3's OnPolicyAlgorithm gives env wrapping,
seeding, the logger, callbacks, the training loop and predict; everything that learns is ours, and model files are
read by ours without unpickling (``files/``).

One iteration of PPO, in the order it runs, and where each step lives:

    learn()                       OnPolicyAlgorithm's loop: collect_rollouts, dump_logs, train, until total_timesteps
    collect_rollouts()            below: n_steps steps of every env; per step, policy.rollout_net samples a ~ pi(.|s)
                                  and V(s) (policy.py, nn/fused.py), the env steps, RolloutStorage.add stores it
                                  (rollout.py)
    compute_returns_and_advantage GAE(lambda) advantages and returns, backwards in time (rollout.py)
    train()                       below: n_epochs passes over the rollout in shuffled minibatches
                                  (RolloutStorage.minibatches); per minibatch:
      ppo_loss()                  every equation of the update, and their derivatives by hand (loss.py)
      backprop()                  dLoss/dparams through distribution, heads and towers (policy.py,
                                  nn/distributions.py, nn/mlp_extractor.py, nn/layers.py), written into policy.grads
      clip_grad_norm_, Adam.step  the update of the flat parameter buffer (optimizer.py)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import FloatSchedule
from threadpoolctl import threadpool_limits

from sb3_scratch_ppo import checks
from sb3_scratch_ppo.checks import check_env_data, check_hyperparameters, check_ppo_batch, check_schedule_value
from sb3_scratch_ppo.files.load import ModelFiles
from sb3_scratch_ppo.loss import explained_variance, ppo_loss
from sb3_scratch_ppo.optimizer import clip_grad_norm_
from sb3_scratch_ppo.policies import POLICY_ALIASES, CnnPolicy, MlpPolicy, MultiInputPolicy, our_policy_class
from sb3_scratch_ppo.policy import ActorCriticPolicy
from sb3_scratch_ppo.rollout import RolloutStorage, stack_observations
from sb3_scratch_ppo.schedules import coefficient, coefficient_at
from sb3_scratch_ppo.vec_env import TakesGymnasiumVectorEnvs

SelfScratchPPO = TypeVar("SelfScratchPPO", bound="ScratchPPO")
__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "ScratchPPO"]


class ScratchPPO(ModelFiles, TakesGymnasiumVectorEnvs, OnPolicyAlgorithm):
    """Proximal Policy Optimization, a drop-in for ``stable_baselines3.PPO``: same parameters, defaults and behaviour.

    :param policy: "MlpPolicy", "CnnPolicy" (images) or "MultiInputPolicy" (Dict observations), or those classes
        of this package
    :param env: the environment to learn from (a Gymnasium env, a VecEnv, a Gymnasium VectorEnv, or a registered id)
    :param learning_rate: float, or a function of progress_remaining (1 at the start, 0 at the end)
    :param n_steps: steps per env per rollout (rollout size n_steps * n_envs)
    :param batch_size: minibatch size
    :param n_epochs: passes over the rollout per update
    :param gamma: discount factor
    :param gae_lambda: GAE bias-variance trade-off
    :param clip_range: PPO's epsilon; float or function of progress_remaining
    :param clip_range_vf: clipping of the value function around the old values; None disables it
    :param normalize_advantage: normalize advantages per minibatch
    :param ent_coef: entropy coefficient: float, function of progress_remaining or "lin_<x>" (SB3: float only)
    :param vf_coef: value-loss coefficient: float, function of progress_remaining or "lin_<x>" (SB3: float only)
    :param max_grad_norm: maximum norm of the joint gradient
    :param use_sde: generalized State-Dependent Exploration instead of independent Gaussian noise (Box actions)
    :param sde_sample_freq: with gSDE, draw new exploration matrices every this many steps (-1: once per rollout)
    :param rollout_buffer_class: must be None (the rollout storage is ours)
    :param rollout_buffer_kwargs: must be None or empty
    :param target_kl: stop the update early when the approximate KL exceeds 1.5 * target_kl
    :param stats_window_size: episodes averaged for rollout/ep_rew_mean and friends
    :param tensorboard_log: TensorBoard log folder (None: no TensorBoard)
    :param policy_kwargs: net_arch, activation_fn, ortho_init, log_std_init, optimizer_class (Adam, AdamW),
        optimizer_kwargs (eps, betas, weight_decay), ...
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed for NumPy's global RNG (minibatch order), the policy's sampling RNG, the env and the action space
    :param device: accepted for compatibility; computation is NumPy on the CPU
    """

    policy_aliases: ClassVar[dict[str, type]] = POLICY_ALIASES
    # What ScratchMaskablePPO (maskable.py) changes: its policies, its action spaces, and no PPO batch checks.
    our_policy_class = staticmethod(our_policy_class)
    action_spaces: ClassVar[tuple] = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
    checks_ppo_batch: ClassVar[bool] = True
    # BLAS threads during learn(). The matrices of small MLPs are far too small for threads to pay:
    # one thread is faster alone, and far faster when two processes share the cores. None: BLAS's own setting.
    blas_threads: ClassVar[int | None] = 1
    policy: ActorCriticPolicy
    rollout_buffer: RolloutStorage

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env,
        learning_rate=3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range=0.2,
        clip_range_vf=None,
        normalize_advantage: bool = True,
        ent_coef: float | Callable[[float], float] | str = 0.0,
        vf_coef: float | Callable[[float], float] | str = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
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
        if rollout_buffer_class is not None or rollout_buffer_kwargs:
            raise NotImplementedError("rollout_buffer_class / rollout_buffer_kwargs: ScratchPPO uses its own rollout storage")
        if not isinstance(policy, str):
            policy = self.our_policy_class(policy)
        ent_coef, vf_coef = coefficient("ent_coef", ent_coef), coefficient("vf_coef", vf_coef)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=self.action_spaces,
        )

        if self.checks_ppo_batch:
            check_ppo_batch(batch_size, normalize_advantage, self.n_steps, None if self.env is None else self.env.num_envs)
        # Then what SB3 accepts but PPO cannot work with (SB3's own errors above and clip_range_vf's in _setup_model).
        given = locals()
        named = "learning_rate n_steps batch_size n_epochs gamma gae_lambda clip_range ent_coef vf_coef max_grad_norm"
        check_hyperparameters(**{name: given[name] for name in (*named.split(), "target_kl", "stats_window_size")})
        self.batch_size, self.n_epochs, self.target_kl = batch_size, n_epochs, target_kl
        self.clip_range, self.clip_range_vf = clip_range, clip_range_vf
        self.normalize_advantage = normalize_advantage

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        """OnPolicyAlgorithm._setup_model and PPO's (ppo/ppo.py:173-182) with our policy and rollout storage."""
        self.policy_class = self.our_policy_class(self.policy_class)  # load() may have put SB3's class back
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(
            self.observation_space,
            self.action_space,
            self.lr_schedule,
            use_sde=self.use_sde,
            seed=self.seed,
            **self.policy_kwargs,
        )
        self.policy.to(self.device)  # SB3's device, reported by policy.device; the arrays stay NumPy on the CPU
        self._maybe_recommend_cpu()
        self.rollout_buffer = RolloutStorage.for_policy(self.policy, self.n_steps, self.n_envs, self.gamma, self.gae_lambda)
        self.clip_range = FloatSchedule(self.clip_range)
        if self.clip_range_vf is not None:
            if isinstance(self.clip_range_vf, (float, int)):
                assert self.clip_range_vf > 0, "`clip_range_vf` must be positive, pass `None` to deactivate vf clipping"
            self.clip_range_vf = FloatSchedule(self.clip_range_vf)

    def _maybe_recommend_cpu(self, mlp_class_name: str = "ActorCriticPolicy") -> None:
        """Where SB3 warns that an MLP policy is on the GPU: ours computes on the CPU whatever the device (checks.py)."""
        checks.warn_if_not_cpu(self.device)

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed Python, NumPy and torch's global RNGs, the action space and the env (as SB3), and the policy's sampler."""
        super().set_random_seed(seed)
        if seed is not None and getattr(self, "policy", None) is not None:
            self.policy.rng = np.random.default_rng(seed)

    # --- the loop: OnPolicyAlgorithm's learn (collect_rollouts, dump_logs, train, until total_timesteps) -----------

    def learn(
        self: SelfScratchPPO,
        total_timesteps: int,
        callback=None,
        log_interval: int = 1,
        tb_log_name: str = "PPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfScratchPPO:
        """OnPolicyAlgorithm.learn, with BLAS at ``blas_threads`` threads while it runs."""
        assert self.env is not None, "learn() needs an environment: pass env= to the constructor, load() or set_env()"
        with threadpool_limits(limits=self.blas_threads, user_api="blas"):
            return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)

    # --- rollout -------------------------------------------------------------------------------------------

    def collect_rollouts(self, env, callback, rollout_buffer: RolloutStorage, n_rollout_steps: int) -> bool:
        """Fill the rollout storage with n_rollout_steps steps of every env; False if a callback stopped training.

        As OnPolicyAlgorithm.collect_rollouts (on_policy_algorithm.py:162-268), with NumPy arrays throughout.
        """
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        n_steps = 0  # the step counter (callbacks read it by this name, as in SB3); step t goes to storage row t
        net = self.policy.rollout_net(env.num_envs)  # the weights do not change during a rollout
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)  # new exploration matrices, one per env
        callback.on_rollout_start()
        is_box = isinstance(self.action_space, spaces.Box)

        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)  # at step 0 too, as SB3: a second draw right after the first
            obs = self.policy.preprocess(self._last_obs, out=rollout_buffer.observation_row(n_steps))
            masks = self._action_masks(env)  # None: no masking (ScratchMaskablePPO's asks the env for them)
            actions, values, log_probs = net(obs) if masks is None else net(obs, action_masks=masks)
            # The storage keeps the action as drawn; the env gets it clipped to the bounds (unscaled when squashed).
            clipped_actions = self.policy.env_actions(actions) if is_box else actions

            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            check_env_data(new_obs, rewards, self.num_timesteps)  # NaN or inf: raise before anything uses them

            callback.update_locals(locals())
            if not callback.on_step():
                return False

            if np.count_nonzero(dones):
                # Episode statistics: Monitor reports them only on the step that ends an episode.
                done_idx = np.flatnonzero(dones)
                self._update_info_buffer([infos[i] for i in done_idx], dones[done_idx])
                # --8<-- [start:time_limit_bootstrap]
                # Time-limit bootstrap (SB3 issue #633): a truncated episode's last reward gets
                # gamma * V(terminal observation), as if the episode went on.
                truncated = [
                    i
                    for i in done_idx
                    if infos[i].get("terminal_observation") is not None and infos[i].get("TimeLimit.truncated", False)
                ]
                if truncated:
                    terminal_obs = stack_observations([infos[i]["terminal_observation"] for i in truncated])
                    check_env_data(terminal_obs, None, self.num_timesteps, what="terminal observation")
                    rewards[truncated] += self.gamma * self.policy.predict_values(self.policy.preprocess(terminal_obs))
                # --8<-- [end:time_limit_bootstrap]

            rollout_buffer.add(n_steps, actions, rewards, self._last_episode_starts, values, log_probs, masks)
            n_steps += 1
            self._last_obs = new_obs
            self._last_episode_starts = dones

        values = self.policy.predict_values(self.policy.preprocess(new_obs))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)

        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _action_masks(self, env) -> np.ndarray | None:
        """This step's action masks for every env: none here (ScratchMaskablePPO asks the env)."""
        return None

    # --- update --------------------------------------------------------------------------------------------

    def train(self) -> None:
        """One PPO update: n_epochs passes over the rollout in minibatches, each a clipped-surrogate gradient step.

        As PPO.train (ppo/ppo.py:184-300), with two additions: a non-finite loss or gradient norm raises before the
        weights change."""
        self.policy.set_training_mode(True)
        progress = self._current_progress_remaining
        check_schedule_value("learning_rate", self.lr_schedule(progress), progress)  # a schedule may leave its range
        self._update_learning_rate(self.policy.optimizer)  # logs train/learning_rate
        clip_range = check_schedule_value("clip_range", self.clip_range(progress), progress)
        clip_range_vf = self.clip_range_vf and check_schedule_value("clip_range_vf", self.clip_range_vf(progress), progress)
        ent_coef = coefficient_at("ent_coef", self.ent_coef, progress, self.logger)  # a number, or its schedule's value
        vf_coef = coefficient_at("vf_coef", self.vf_coef, progress, self.logger)

        entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for minibatch, data in enumerate(self.rollout_buffer.minibatches(self.batch_size)):
                terms = ppo_loss(self.policy, data, clip_range, clip_range_vf, ent_coef, vf_coef, self.normalize_advantage)
                pg_losses.append(terms.policy_loss)
                clip_fractions.append(terms.clip_fraction)
                value_losses.append(terms.value_loss)
                entropy_losses.append(terms.entropy_loss)
                loss = terms.loss
                approx_kl_divs.append(terms.approx_kl)
                if self.target_kl is not None and terms.approx_kl > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {terms.approx_kl:.2f}")
                    break
                where = f"at epoch {epoch}, minibatch {minibatch}"
                if not math.isfinite(loss):
                    raise FloatingPointError(
                        f"the PPO loss is {loss} {where} (policy_loss={terms.policy_loss}, value_loss="
                        f"{terms.value_loss}, entropy_loss={terms.entropy_loss}); the weights were left as they were "
                        "before this minibatch. Check rewards and observations for NaN/inf or huge values "
                        "(VecNormalize helps), or lower the learning rate."
                    )
                terms.backprop()  # overwrites every gradient in self.policy.grads: nothing accumulates, so no zero_grad
                grad_norm = clip_grad_norm_(self.policy.grads, self.max_grad_norm)
                if not math.isfinite(grad_norm):
                    raise FloatingPointError(
                        f"the gradient norm is {grad_norm} {where}; the weights were left as they were before this minibatch."
                    )
                self.policy.optimizer.step()

            self._n_updates += 1
            if not continue_training:
                break

        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())

        self.logger.record("train/entropy_loss", np.mean(entropy_losses))
        self.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
        self.logger.record("train/value_loss", np.mean(value_losses))
        self.logger.record("train/approx_kl", np.mean(approx_kl_divs))
        self.logger.record("train/clip_fraction", np.mean(clip_fractions))
        self.logger.record("train/loss", loss)
        self.logger.record("train/explained_variance", explained_var)
        if self.policy.has_log_std:
            self.logger.record("train/std", float(np.exp(self.policy.log_std).mean()))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)
