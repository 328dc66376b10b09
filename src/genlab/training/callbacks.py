"""Training callbacks: objects with any of the hook methods below.

The trainer calls ``on_batch_end(trainer)`` after every optimiser step,
``on_epoch_end(trainer)`` when a pass over the data ends, ``on_eval(trainer, metrics)``
after each validation and ``on_train_end(trainer)`` at the end. ``trainer.step``,
``trainer.epoch``, ``trainer.loss`` and ``trainer.history`` are up to date.
An exception raised by a callback stops training (checkpoints already written stay).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Callback", "StopAtStep", "TimeLimit"]


class Callback:
    """Base class with no-op hooks; subclass and override what you need."""

    def on_batch_end(self, trainer: Any) -> None:
        pass

    def on_epoch_end(self, trainer: Any) -> None:
        pass

    def on_eval(self, trainer: Any, metrics: dict) -> None:
        pass

    def on_train_end(self, trainer: Any) -> None:
        pass


class StopAtStep(Callback):
    """Raise ``KeyboardInterrupt`` once ``trainer.step == step`` (simulates a killed run)."""

    def __init__(self, step: int):
        self.step = step

    def on_batch_end(self, trainer: Any) -> None:
        if trainer.step == self.step:
            raise KeyboardInterrupt(f"stopped at step {self.step}")


class TimeLimit(Callback):
    """End training cleanly once ``seconds`` of wall time have passed since the first step.

    The step budget is cut to the current step, so the last step is treated as the final
    one: validation, the final checkpoint and EMA/best weights happen as usual. Used by
    ``genlab compare`` to give every family the same CPU budget.
    """

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self._clock = time.perf_counter
        self._start: float | None = None
        self.stopped_at: int | None = None

    def on_batch_end(self, trainer: Any) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        elif now - self._start >= self.seconds and trainer.step < trainer.total_steps:
            trainer.total_steps = trainer.step
            self.stopped_at = trainer.step
