"""Training: the one loop (Trainer), its options (TrainConfig), callbacks, optimiser, EMA, checkpoints."""

from genlab.training.callbacks import Callback, StopAtStep
from genlab.training.trainer import TrainConfig, Trainer

__all__ = ["Trainer", "TrainConfig", "Callback", "StopAtStep"]
