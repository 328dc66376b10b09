"""GenerativeModel: the one contract every family implements.

- ``Model(**hyperparameters)`` stores its arguments and computes nothing.
- ``fit(X, y=None, **training) -> self`` validates, builds the learned state
  (attributes ending in ``_``) and trains.
- ``sample(n, *, seed=None, condition=None) -> data`` in the user's form of the data.
- ``log_prob(X, y=None) -> Tensor (n,)`` in nats per example; ``likelihood`` says
  whether that is ``"exact"``, a ``"lower_bound"``, or unavailable (``None``).
- ``save(path)`` / ``Model.load(path)`` / ``genlab.load(path)``: a folder of JSON
  and safetensors, never a pickle.

Subclasses implement ``fit``, ``sample``, ``log_prob`` and the two state hooks
``_get_state`` / ``_set_state``.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any, ClassVar

import torch

from genlab.data.base import Split
from genlab.data.codecs import Codec, ImageCodec, codec_from_json, infer_codec
from genlab.exceptions import (
    CheckpointError,
    DataError,
    InvalidParameterError,
    LikelihoodNotAvailableError,
)
from genlab.utils.serialization import read_model_folder, write_model_folder
from genlab.utils.validation import check_is_fitted, validate_params

__all__ = ["GenerativeModel"]


class GenerativeModel:
    """Base class of every genlab model (see the module docstring for the contract).

    Class attributes
    ----------------
    name : str
        Registry name, e.g. ``"vae"``.
    likelihood : {"exact", "lower_bound", None}
        What ``log_prob`` returns.
    modalities : tuple of str
        Kinds of data the model fits (``"image"``, ``"tabular"``, ``"text"``...).
    demo : dict or None
        ``{"params": {...}, "fit": {...}}`` used by ``genlab demo`` on digits.
    """

    name: ClassVar[str] = ""
    likelihood: ClassVar[str | None] = None
    modalities: ClassVar[tuple[str, ...]] = ()
    demo: ClassVar[dict[str, Any] | None] = None
    training_options: ClassVar[tuple[str, ...] | None] = None   # None: the gradient trainer's options
    _fitted_attributes: ClassVar[tuple[str, ...] | None] = None   # set last by fit; None: any "x_"
    _parameter_constraints: ClassVar[dict[str, list]] = {}

    # -- parameters ----------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds]

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """Constructor parameters and their defaults."""
        sig = inspect.signature(cls.__init__)
        return {n: sig.parameters[n].default for n in cls._param_names()}

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to the constructor (the content of ``config.json``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> GenerativeModel:
        """Set hyperparameters; unknown names raise :class:`InvalidParameterError`."""
        known = self._param_names()
        for key, value in params.items():
            if key not in known:
                raise InvalidParameterError(
                    f"{type(self).__name__} has no parameter {key!r}; valid parameters: {', '.join(known)}."
                )
            setattr(self, key, value)
        return self

    def clone(self) -> GenerativeModel:
        """A new, unfitted model with the same hyperparameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k, inspect.Parameter.empty) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def _validate_params(self) -> None:
        validate_params(self)

    def _check_training_options(self, training: dict[str, Any]) -> int | None:
        """For families not trained by gradient (``training_options`` on the class): refuse any
        other option with a message, check ``max_steps`` and return it (None if not given)."""
        allowed = type(self).training_options
        for key in training:
            if key not in allowed:
                raise InvalidParameterError(
                    f"fit() got the training option {key!r}, which does not apply to {type(self).__name__} "
                    f"(it is not trained by gradient descent); it takes {', '.join(allowed)}.")
        max_steps = training.get("max_steps")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise InvalidParameterError(f"The 'max_steps' parameter of fit must be a positive int; got {max_steps!r}.")
        return max_steps

    def _labels_for(self, condition: Any, n: int, gen: torch.Generator) -> torch.Tensor | None:
        """Class labels (n,) for ``sample`` of a family with a ``conditional`` parameter.

        Uses the fitted ``class_prior_`` and ``n_classes_``. None for an unconditional model;
        ``condition=None`` draws labels from the training frequencies (samples from p(x));
        one label is repeated n times.
        """
        if not self.conditional:
            if condition is not None:
                raise InvalidParameterError(f"condition was given but this {type(self).__name__} is not conditional "
                                            "(conditional=False).")
            return None
        if condition is None:
            return torch.multinomial(self.class_prior_, n, replacement=True, generator=gen)
        y = torch.as_tensor(condition).long().reshape(-1)
        y = y.expand(n) if len(y) == 1 else y
        if len(y) != n or y.min() < 0 or y.max() >= self.n_classes_:
            raise InvalidParameterError(
                f"condition must be one label or {n} labels in 0..{self.n_classes_ - 1}; got {condition!r}.")
        return y

    def _check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless ``fit`` has completed."""
        check_is_fitted(self, self._fitted_attributes)

    # -- the contract ----------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, **training: Any) -> GenerativeModel:  # pragma: no cover
        raise NotImplementedError

    def sample(self, n: int, *, seed: Any = None, condition: Any = None, **sampling: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def log_prob(self, X: Any, y: Any = None, **kwargs: Any) -> torch.Tensor:
        """Log-likelihood in nats per example; this model has none."""
        raise LikelihoodNotAvailableError(
            f"{type(self).__name__} defines no tractable likelihood. Judge it by its samples: "
            "genlab.evaluate(model, data.test) reports the sample-based metrics."
        )

    def likelihood_units(self) -> str | None:
        """``"discrete"`` if ``log_prob`` is the log of a probability of the (discrete)
        data, ``"density"`` if it is a density, None without a likelihood."""
        return None if self.likelihood is None else "density"

    # -- data helpers shared by every family ------------------------------------------------
    def _training_data(self, X: Any, y: Any = None) -> tuple[torch.Tensor, torch.Tensor | None, Codec]:
        """``(x, y, codec)`` in model space from a Split or raw array data."""
        if hasattr(X, "train") and hasattr(X, "test"):
            raise DataError("fit() was given a whole Dataset; pass one split, e.g. model.fit(data.train, val=data.val).")
        if isinstance(X, Split):
            return X.x, _labels(X.y if y is None else y, len(X)), X.codec
        x = X if isinstance(X, torch.Tensor) else torch.as_tensor(_as_array(X))
        if x.ndim == 0 or len(x) == 0:
            raise DataError(f"the training data is empty (shape {tuple(x.shape)}).")
        codec = infer_codec(x)
        return codec.encode(x), _labels(y, len(x)), codec

    def _eval_data(self, X: Any, y: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x, y)`` in this fitted model's space; checks the data matches its codec."""
        codec: Codec = self.codec_
        if isinstance(X, Split):
            labels = _labels(X.y if y is None else y, len(X))
            if X.codec == codec:
                return X.x, labels
            if X.codec.kind != codec.kind or X.codec.event_shape != codec.event_shape or (
                isinstance(codec, ImageCodec) and getattr(X.codec, "levels", None) != codec.levels
            ):
                raise DataError(f"this model was trained on data with codec {codec!r}; the data given has {X.codec!r}.")
            # same kind of data, other statistics (e.g. another CSV's column means): go through user space
            return codec.encode(X.codec.decode(X.x)), labels
        x = codec.encode(X if isinstance(X, torch.Tensor) else _as_array(X))
        return x, _labels(y, len(x))

    # -- persistence -------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:  # pragma: no cover
        """``(tensors, json_state)`` describing the fitted model."""
        raise NotImplementedError

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Save to a folder: ``config.json``, ``model.safetensors``, ``codec.json``.

        Files already in the folder that are not part of the model (a run's
        ``train_state/`` or ``metrics.jsonl``) are left in place.
        """
        self._check_fitted()
        from genlab import __version__

        tensors, state = self._get_state()
        config = {
            "class": type(self).__name__,
            "model": self.name,
            "genlab_version": __version__,
            "params": self.get_params(),
            "state": state,
        }
        codec = self.codec_.to_json() if getattr(self, "codec_", None) is not None else None
        return write_model_folder(path, config, tensors, codec)

    @classmethod
    def load(cls, path: str | Path) -> GenerativeModel:
        """Load a model saved with :meth:`save` (no code is executed: JSON + safetensors)."""
        config, tensors, codec = read_model_folder(path)
        if config.get("class") != cls.__name__:
            raise CheckpointError(
                f"{path} holds a {config.get('class')!r} model, not a {cls.__name__}; use genlab.load(path)."
            )
        try:
            defaults = cls.param_defaults()
            params = {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
                      for k, v in config["params"].items()}
            model = cls(**params)
            model._validate_params()
        except (TypeError, KeyError, InvalidParameterError) as err:
            raise CheckpointError(f"{path}/config.json has invalid parameters for {cls.__name__}: {err}") from None
        model.codec_ = codec_from_json(codec) if codec is not None else None
        try:
            model._set_state(tensors, config.get("state", {}))
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"{path}/model.safetensors does not fit the configuration: {err}") from None
        return model


def _as_array(X: Any) -> Any:
    import numpy as np

    try:
        return np.asarray(X)
    except (TypeError, ValueError) as err:
        raise DataError(f"could not read the data as an array: {err}") from None


def _labels(y: Any, n: int) -> torch.Tensor | None:
    if y is None:
        return None
    t = y if isinstance(y, torch.Tensor) else torch.as_tensor(_as_array(y))
    if t.is_floating_point():
        if not torch.equal(t, t.round()):
            raise DataError("labels must be integers (class indices 0..K-1).")
    t = t.reshape(-1).long()
    if len(t) != n:
        raise DataError(f"{len(t)} labels were given for {n} examples; give one label per example.")
    if len(t) and t.min() < 0:
        raise DataError("labels must be non-negative class indices 0..K-1.")
    return t
