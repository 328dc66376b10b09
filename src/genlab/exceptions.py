"""Errors raised by genlab.

Every mistake a user can make (a bad hyperparameter, a missing file, a model used
before ``fit``) raises a subclass of :class:`GenlabError` whose message says what
went wrong *and* what to do about it. Each subclass also derives from the
built-in exception a Python user would expect (``ValueError``, ``OSError``, ...),
so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "GenlabError",
    "InvalidParameterError",
    "NotFittedError",
    "DataError",
    "CheckpointError",
    "NonFiniteLossError",
    "LikelihoodNotAvailableError",
    "UnknownNameError",
    "MissingDependencyError",
]


class GenlabError(Exception):
    """Base class of every error genlab raises on purpose."""


class InvalidParameterError(GenlabError, ValueError, TypeError):
    """A hyperparameter or argument has a wrong type or value.

    The message names the parameter, what is allowed and what was given.
    """


class NotFittedError(GenlabError, ValueError, AttributeError):
    """A method that needs a trained model was called before ``fit``."""


class DataError(GenlabError, ValueError):
    """Input data is missing, unreadable, empty, inconsistent or non-finite.

    The message names the file (when there is one) and the problem.
    """


class CheckpointError(GenlabError, OSError):
    """A model folder or training checkpoint is missing, corrupt or incompatible."""


class NonFiniteLossError(GenlabError, FloatingPointError):
    """Training produced a NaN or infinite loss or gradient.

    Attributes
    ----------
    step : int
        The optimisation step at which the non-finite value appeared.
    checkpoint : str or None
        Folder of the last good checkpoint, if one was written.
    """

    def __init__(self, message: str, *, step: int, checkpoint: str | None = None):
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


class LikelihoodNotAvailableError(GenlabError, NotImplementedError):
    """The model defines no tractable likelihood (e.g. a GAN).

    Use the sample-based metrics in :mod:`genlab.metrics` instead.
    """


class UnknownNameError(GenlabError, KeyError):
    """An unknown model, dataset or option name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(GenlabError, ImportError):
    """An optional dependency is not installed; the message gives the pip command."""
