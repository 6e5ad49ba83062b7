"""Schedules that a config file or a model file names: rebuilt from text, never from code.

``ZooLinearSchedule`` is rl-baselines3-zoo's ``lin_<x>`` (x * progress_remaining; the zoo calls it
``SimpleLinearSchedule``, SB3 has a different ``LinearSchedule``); ``zoo_text`` reads ``lin_<x>``;
``UnreadableSchedule`` stands in for a schedule a model file holds only as a pickled function: predicting needs
none, training says what to pass instead.
"""

from __future__ import annotations

from typing import Any

from sb3_scratch_ppo.checks import check_schedule_value


class ZooLinearSchedule:
    """The zoo's ``lin_<x>``: x * progress_remaining (x at the start of training, 0 at the end). Picklable."""

    def __init__(self, initial_value: float):
        self.initial_value = float(initial_value)

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial_value

    def __repr__(self) -> str:  # the text a model file keeps of it, read back by files.model_file.schedule_from_text
        return f"ZooLinearSchedule({self.initial_value})"


def zoo_text(value: str) -> ZooLinearSchedule:
    """The schedule the zoo writes as ``lin_<x>``; ValueError for any other text."""
    if not value.startswith("lin_"):
        raise ValueError(f"{value!r} is not a number or a lin_<x> schedule")
    try:
        return ZooLinearSchedule(float(value[len("lin_") :]))
    except ValueError as e:
        raise ValueError(f"{value!r} is not a lin_<x> schedule with a number x") from e


def coefficient(name: str, value: Any) -> Any:
    """A loss coefficient (ent_coef, vf_coef) as ScratchPPO takes it: a number or a function of progress_remaining
    as they are, the zoo's ``lin_<x>`` text as its schedule (SB3 takes numbers only)."""
    if isinstance(value, str):
        try:
            return zoo_text(value)
        except ValueError as e:
            raise ValueError(f"{name}={value!r}: expected a number, a function of progress_remaining or 'lin_<x>'") from e
    return value


def coefficient_at(name: str, value: Any, progress_remaining: float, logger: Any) -> float:
    """A loss coefficient at this update: a number as it is; a schedule's value, checked and logged as train/<name>."""
    if not callable(value):
        return value
    value = check_schedule_value(name, value(progress_remaining), progress_remaining)
    logger.record(f"train/{name}", value)
    return value


class UnreadableSchedule:
    """A schedule the file stores only as a function: it cannot be rebuilt without running the file's code.
    Predicting needs none; training asks for it."""

    def __init__(self, where: str, text: str):
        self.where, self.text = where, text

    def __call__(self, progress_remaining: float) -> float:
        key = self.where.rsplit("[", 1)[-1].strip("[]'\"")
        raise ValueError(
            f"{self.where} is a function ({self.text}) that a model file cannot carry without running "
            f"code; to train on, load with custom_objects={{'{key}': <your schedule or a number>}}"
        )

    def __repr__(self) -> str:
        return f"UnreadableSchedule({self.text})"
