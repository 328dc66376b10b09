"""Parameter constraints, fitted checks and input conversion.

Models declare ``_parameter_constraints = {"latent_dim": [Interval(int, 1, None)], ...}``
(scikit-learn's convention); :func:`validate_params` checks every constructor
argument at the top of ``fit`` and raises :class:`InvalidParameterError` naming
the parameter, what is allowed and what was given.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from genlab.exceptions import DataError, InvalidParameterError, NotFittedError

__all__ = [
    "Interval",
    "Options",
    "Sequence",
    "validate_params",
    "check_params",
    "check_is_fitted",
    "as_float_tensor",
    "check_finite",
]


class Interval:
    """Numbers of ``kind`` (``int`` or ``float``) between ``low`` and ``high``.

    ``closed`` is one of ``"both"``, ``"left"``, ``"right"``, ``"neither"``;
    ``None`` bounds are unbounded. ``bool`` is never accepted as a number.
    """

    def __init__(self, kind: type, low: float | None, high: float | None, closed: str = "both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            return False
        lo_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        hi_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return lo_ok and hi_ok

    def __str__(self) -> str:
        name = "an int" if self.kind is int else "a float"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        lo = "-inf" if self.low is None else self.low
        hi = "inf" if self.high is None else self.high
        return f"{name} in the range {left}{lo}, {hi}{right}"


class Options:
    """One of a fixed set of values (usually strings)."""

    def __init__(self, *values: Any):
        self.values = values

    def is_satisfied_by(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class Sequence:
    """A non-empty list or tuple whose every item satisfies ``item``."""

    def __init__(self, item: Interval | Options, min_len: int = 1):
        self.item, self.min_len = item, min_len

    def is_satisfied_by(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) >= self.min_len
            and all(self.item.is_satisfied_by(v) for v in value)
        )

    def __str__(self) -> str:
        return f"a list of at least {self.min_len} items, each {self.item}"


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, type):
        return {bool: "a bool", str: "a str", int: "an int", float: "a float"}.get(
            constraint, f"an instance of {constraint.__name__}"
        )
    return str(constraint)


def _satisfies(value: Any, constraint: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, type):
        if constraint is bool:
            return isinstance(value, bool)
        return isinstance(value, constraint) and not isinstance(value, bool)
    return constraint.is_satisfied_by(value)


def check_params(params: Mapping[str, Any], constraints: Mapping[str, list], owner: str) -> None:
    """Check each ``params[name]`` against ``constraints[name]`` (any one may match).

    Raises
    ------
    InvalidParameterError
        Naming the parameter, the allowed values and the value given.
    """
    for name, value in params.items():
        allowed = constraints.get(name)
        if allowed is None or any(_satisfies(value, c) for c in allowed):
            continue
        choices = " or ".join(_describe(c) for c in allowed)
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {choices}; got {value!r}."
        )


def validate_params(model: Any) -> None:
    """Validate a model's constructor parameters against its ``_parameter_constraints``."""
    check_params(model.get_params(), getattr(model, "_parameter_constraints", {}), type(model).__name__)


def check_is_fitted(model: Any, attributes: Iterable[str] | None = None) -> None:
    """Raise :class:`NotFittedError` unless ``model`` has learned state.

    A model is fitted when it has the given attributes, or by default any
    attribute whose name ends with ``_`` (scikit-learn's convention).
    """
    if attributes is not None:
        fitted = all(hasattr(model, a) for a in attributes)
    else:
        fitted = any(k.endswith("_") and not k.startswith("__") for k in vars(model))
    if not fitted:
        name = type(model).__name__
        raise NotFittedError(
            f"This {name} is not fitted yet. Call fit(data) first, or load a trained "
            f"model with genlab.load(path)."
        )


def check_finite(x: torch.Tensor, what: str = "data") -> None:
    """Raise :class:`DataError` if ``x`` holds NaN or infinite values."""
    if x.is_floating_point() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise DataError(
            f"{what} contains NaN or infinite values (first at index {tuple(bad)}); "
            "remove or impute them before training."
        )


def as_float_tensor(x: Any, what: str = "X") -> torch.Tensor:
    """Convert an array-like to a float32 tensor, with a clear error if impossible."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as err:
            raise DataError(f"{what} could not be converted to a numeric tensor: {err}") from None
    if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)):
        if t.dtype != torch.bool:
            raise DataError(f"{what} must be numeric; got dtype {t.dtype}.")
    t = t.to(torch.float32)
    if t.ndim == 0 or t.shape[0] == 0:
        raise DataError(f"{what} is empty (shape {tuple(t.shape)}); give at least one example.")
    check_finite(t, what)
    return t
