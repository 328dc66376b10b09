"""Training callbacks: objects with any of the hook methods below.

The trainer calls ``on_batch_end(trainer)`` after every optimiser step,
``on_epoch_end(trainer)`` when a pass over the data ends, ``on_eval(trainer, metrics)``
after each validation and ``on_train_end(trainer)`` at the end. ``trainer.step``,
``trainer.epoch``, ``trainer.loss`` and ``trainer.history`` are up to date.
An exception raised by a callback stops training (checkpoints already written stay).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Callback", "StopAtStep"]


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
