"""ent_coef and vf_coef as schedules (a function of progress_remaining, or the zoo's ``lin_<x>``), which SB3 declines
(SB3 #316, #540, #628, #2111): at each update the loss uses the schedule's value, so one update equals SB3's PPO
given that value as a number; the value is logged as train/<name>; files keep it as text, never code; numbers
behave (and train bit for bit, benchmarks/fingerprint.py) as before."""

import numpy as np
import pytest
from stable_baselines3.common.logger import configure

from sb3_scratch_ppo import ScratchPPO, zoo
from sb3_scratch_ppo.schedules import ZooLinearSchedule
from tests.test_update_parity import ATOL, RTOL, copy_sb3_rollout, make_pair, start_rollout

PROGRESS = 0.6  # the update runs away from the schedules' start


def ent_schedule(p):
    return 0.02 * p


def vf_schedule(p):
    return 0.25 + 0.5 * p


def one_update(model) -> dict:
    model.set_logger(configure(None, []))
    model._current_progress_remaining = PROGRESS
    model._n_updates = 7
    np.random.seed(1234)  # the same minibatch order
    model.train()
    return dict(model.logger.name_to_value)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_one_update_with_scheduled_coefficients_is_sb3s_with_their_values(env_id):
    """SB3's PPO with ent_coef=0.012 and vf_coef=0.55 (numbers) and ScratchPPO with schedules worth that at this
    update's progress, from the same weights, rollout and minibatch order: the same weights, Adam moments and logs
    (float32 tolerances of test_update_parity), plus train/ent_coef and train/vf_coef. Negative control: the
    schedules' start values (0.02, 0.75) as numbers give other weights."""
    kwargs = dict(n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3)
    numbers = dict(ent_coef=ent_schedule(PROGRESS), vf_coef=vf_schedule(PROGRESS))
    sb3, ours = make_pair(env_id, **kwargs, **numbers)
    _, control = make_pair(env_id, **kwargs, ent_coef=ent_schedule(1.0), vf_coef=vf_schedule(1.0))
    ours.ent_coef, ours.vf_coef = ent_schedule, vf_schedule
    sb3.collect_rollouts(sb3.env, start_rollout(sb3), sb3.rollout_buffer, sb3.n_steps)
    copy_sb3_rollout(sb3, ours)
    copy_sb3_rollout(sb3, control)
    control.set_parameters(sb3.get_parameters())
    logs = {"sb3": one_update(sb3), "ours": one_update(ours)}
    one_update(control)

    assert logs["ours"].pop("train/ent_coef") == numbers["ent_coef"]
    assert logs["ours"].pop("train/vf_coef") == numbers["vf_coef"]
    assert logs["ours"].keys() == logs["sb3"].keys()
    for key, value in logs["sb3"].items():
        np.testing.assert_allclose(logs["ours"][key], value, rtol=1e-3, atol=1e-6, err_msg=key)
    sb3_sd, ours_sd, control_sd = (m.policy.state_dict() for m in (sb3, ours, control))
    for key, value in sb3_sd.items():
        np.testing.assert_allclose(ours_sd[key].numpy(), value.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
    assert not all(np.allclose(control_sd[k].numpy(), v.numpy(), rtol=RTOL, atol=ATOL) for k, v in sb3_sd.items())


def test_numbers_stay_numbers_and_are_not_logged():
    model = ScratchPPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, n_epochs=1, ent_coef=0.01, seed=0)
    assert model.ent_coef == 0.01 and model.vf_coef == 0.5  # SB3's attributes, as SB3 keeps them
    model.learn(32)
    logs = one_update(model)
    assert "train/entropy_loss" in logs and "train/ent_coef" not in logs and "train/vf_coef" not in logs


def test_the_zoo_text_and_functions_are_taken_and_other_text_is_refused():
    model = ScratchPPO("MlpPolicy", "CartPole-v1", ent_coef="lin_0.01", vf_coef=lambda p: 0.5 * p, n_steps=32, batch_size=32)
    assert isinstance(model.ent_coef, ZooLinearSchedule) and model.ent_coef.initial_value == 0.01
    model.learn(64)
    logs = one_update(model)
    assert (logs["train/ent_coef"], logs["train/vf_coef"]) == (0.01 * PROGRESS, 0.5 * PROGRESS)
    with pytest.raises(ValueError, match=r"ent_coef='cos_0.1': expected a number, a function of progress_remaining"):
        ScratchPPO("MlpPolicy", "CartPole-v1", ent_coef="cos_0.1")
    with pytest.raises(ValueError, match=r"vf_coef='lin_x': expected a number"):
        ScratchPPO("MlpPolicy", "CartPole-v1", vf_coef="lin_x")


def test_a_schedule_leaving_its_range_stops_the_update_with_its_name():
    negative = ScratchPPO("MlpPolicy", "CartPole-v1", vf_coef=lambda p: -0.1, n_steps=32, batch_size=32)
    with pytest.raises(ValueError, match=r"vf_coef=-0.1 \(from its schedule\): expected a number in \[0, inf\)"):
        negative.learn(32)
    # ent_coef may be negative, as a number may (SB3 takes it): a schedule's value may too
    ScratchPPO("MlpPolicy", "CartPole-v1", ent_coef=lambda p: -0.01, n_steps=32, batch_size=32).learn(32)
    with pytest.raises(ValueError, match=r"ent_coef=nan \(from its schedule\): expected a number in \(-inf, inf\)"):
        ScratchPPO("MlpPolicy", "CartPole-v1", ent_coef=lambda p: float("nan"), n_steps=32, batch_size=32).learn(32)


def test_files_keep_the_zoo_schedule_as_text_and_a_function_not_at_all(tmp_path):
    model = ScratchPPO("MlpPolicy", "CartPole-v1", ent_coef="lin_0.01", vf_coef="lin_0.5", n_steps=32, batch_size=32, seed=0)
    model.save(tmp_path / "lin.zip")
    loaded = ScratchPPO.load(tmp_path / "lin.zip", env=model.env)
    kept = [(type(c), c.initial_value) for c in (loaded.ent_coef, loaded.vf_coef)]
    assert kept == [(ZooLinearSchedule, 0.01), (ZooLinearSchedule, 0.5)]
    loaded.learn(64)

    model = ScratchPPO("MlpPolicy", "CartPole-v1", ent_coef=lambda p: 0.01 * p, n_steps=32, batch_size=32, seed=0)
    model.save(tmp_path / "function.zip")
    with pytest.warns(UserWarning, match="Could not deserialize object ent_coef"):
        loaded = ScratchPPO.load(tmp_path / "function.zip", env=model.env)
    with pytest.raises(ValueError, match=r"load with custom_objects=\{'ent_coef': <your schedule or a number>\}"):
        loaded.learn(32)
    ScratchPPO.load(tmp_path / "function.zip", env=model.env, custom_objects={"ent_coef": 0.0}).learn(32)


def test_zoo_configs_take_lin_for_the_coefficients(tmp_path):
    path = tmp_path / "ppo.yml"
    path.write_text("CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  ent_coef: lin_0.01\n  vf_coef: lin_0.5\n")
    config = zoo.load("CartPole-v1", path)
    assert [(type(config.kwargs[k]), config.kwargs[k].initial_value) for k in ("ent_coef", "vf_coef")] == [
        (ZooLinearSchedule, 0.01),
        (ZooLinearSchedule, 0.5),
    ]
    path.write_text("CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  ent_coef: exp_0.01\n")
    with pytest.raises(zoo.ConfigError, match=r"CartPole-v1.ent_coef: 'exp_0.01' is not a number or a lin_<x> schedule"):
        zoo.load("CartPole-v1", path)
