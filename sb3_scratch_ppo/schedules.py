"""Schedules that a config file or a model file names: rebuilt from text, never from code.

``ZooLinearSchedule`` is rl-baselines3-zoo's ``lin_<x>`` (x * progress_remaining; the zoo calls it
``SimpleLinearSchedule``, SB3 has a different ``LinearSchedule``); ``UnreadableSchedule`` stands in for a schedule a
model file holds only as a pickled function: predicting needs none, training says what to pass instead.
"""

from __future__ import annotations


class ZooLinearSchedule:
    """The zoo's ``lin_<x>``: x * progress_remaining (x at the start of training, 0 at the end). Picklable."""

    def __init__(self, initial_value: float):
        self.initial_value = float(initial_value)

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial_value

    def __repr__(self) -> str:  # the text a model file keeps of it, read back by files.model_file.schedule_from_text
        return f"ZooLinearSchedule({self.initial_value})"


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
