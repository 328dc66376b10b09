"""The model registry: ``create(name, **params)``, ``load(path)``, ``available()``.

A family joins genlab by adding its class to ``REGISTRY``; the CLI, the server,
the contract tests and ``genlab demo`` then pick it up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab.base import GenerativeModel
from genlab.exceptions import CheckpointError, UnknownNameError
from genlab.models.autoregressive import GPT, Translator
from genlab.models.bayesnet import BayesianNetwork
from genlab.models.diffusion import Diffusion
from genlab.models.gan import GAN
from genlab.models.hmm import HMM
from genlab.models.vae import VAE
from genlab.utils.serialization import read_model_folder

__all__ = ["GAN", "GPT", "HMM", "REGISTRY", "TASK_MODELS", "VAE", "BayesianNetwork", "Diffusion", "Translator", "available",
           "create", "get_class", "load"]

REGISTRY: dict[str, type[GenerativeModel]] = {
    "bayesnet": BayesianNetwork,
    "diffusion": Diffusion,
    "gan": GAN,
    "gpt": GPT,
    "hmm": HMM,
    "vae": VAE,
}


# Models for a task other than fitting a dataset (not in the contract suite, not in ``genlab list``)
TASK_MODELS: dict[str, type[GenerativeModel]] = {
    "translator": Translator,
}


def available() -> list[str]:
    """Names of the registered model families."""
    return sorted(REGISTRY)


def get_class(name: str) -> type[GenerativeModel]:
    """The class registered as ``name`` (case-insensitive)."""
    try:
        return REGISTRY[name.lower()]
    except (KeyError, AttributeError):
        raise UnknownNameError(f"unknown model {name!r}; available models: {', '.join(available())}.") from None


def create(name: str, **params: Any) -> GenerativeModel:
    """``create("vae", latent_dim=16)`` is ``genlab.models.VAE(latent_dim=16)``.

    Unknown parameter names raise :class:`~genlab.exceptions.InvalidParameterError`
    at once; values are checked when ``fit`` starts.
    """
    cls = get_class(name)
    model = cls()
    model.set_params(**params)
    return model


def load(path: str | Path) -> GenerativeModel:
    """Load any saved model folder, dispatching on the class named in ``config.json``."""
    config, _, _ = read_model_folder(path)
    by_class = {cls.__name__: cls for cls in (*REGISTRY.values(), *TASK_MODELS.values())}
    cls = by_class.get(config.get("class", ""))
    if cls is None:
        raise CheckpointError(
            f"{path} holds a model of class {config.get('class')!r}, which this genlab does not know; "
            f"known: {', '.join(sorted(by_class))}."
        )
    return cls.load(path)
