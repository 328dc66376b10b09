"""``genlab.create("gan")``: generative adversarial networks through the shared trainer."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from genlab.base import GenerativeModel
from genlab.exceptions import DataError, InvalidParameterError, LikelihoodNotAvailableError
from genlab.models.gan.networks import LOSSES, GANNetwork
from genlab.training import TrainConfig, Trainer
from genlab.utils.random import as_generator
from genlab.utils.validation import Interval, Options, Sequence

__all__ = ["GAN"]

# GAN training defaults differ from the likelihood models': constant learning rate,
# no gradient clipping, EMA of the weights (sampling uses the EMA generator).
TRAINING_DEFAULTS = {"lr": 2e-4, "lr_schedule": "constant", "grad_clip": None, "ema_decay": 0.999,
                     "batch_size": 128}


class GAN(GenerativeModel):
    """Generative adversarial network for images, vectors and tables.

    Parameters
    ----------
    latent_dim : int, default 64
        Size of z ~ N(0, I).
    architecture : {"auto", "mlp", "conv"}, default "auto"
        "conv" (DCGAN-style) for images whose sides are multiples of 4, "mlp" otherwise.
    hidden_dims : tuple of int, default (256, 256, 256)
        MLP widths of both players.
    width : int, default 64
        Channels of the convolutional players.
    loss : {"ns", "hinge", "wgan-gp"}, default "ns"
        Non-saturating, hinge, or Wasserstein with gradient penalty (``gp_weight``).
    spectral_norm : bool, default False
        Spectral normalisation of every discriminator layer.
    r1_gamma : float, default 1.0
        Weight gamma of the R1 penalty (gamma / 2) E||grad D(x_real)||^2; 0 turns it off.
        On digits (2,000 steps, conv, non-saturating) it took the Fréchet distance from 303
        to 123 and recall from 0.24 to 0.80, so it is on by default.
    r1_every : int, default 1
        Lazy R1 (StyleGAN2): apply the penalty every ``r1_every`` steps with weight
        ``r1_every * gamma / 2``, which saves most of its cost.
    gp_weight : float, default 10.0
        WGAN-GP penalty weight.
    pack : int, default 1
        PacGAN: the discriminator judges ``pack`` samples at once (batch size must be a multiple).
    d_lr_ratio : float, default 1.0
        Discriminator learning rate / generator learning rate (two time-scale rule: e.g. 4).
    beta1 : float, default 0.5
        Adam's beta1 for both players.
    beta2 : float, default 0.999
        Adam's beta2 for both players (0.9 or 0.99 is common with beta1 = 0).
    conditional : bool, default False
        Class-conditional GAN (label embedding in G, projection discriminator).
    standardize : bool, default True
        Vectors (not images): both players work on the training data's standardised
        coordinates (per-feature mean and standard deviation, kept with the model) and
        samples are mapped back, so the generator's initial scale and the penalties'
        strength (``r1_gamma``, ``gp_weight``) do not depend on the data's units.

    Notes
    -----
    ``GAN.toy_recipe`` holds the recommended settings for 2-D mixtures such as
    ``load("ring")`` / ``load("grid")``: ``GAN(**GAN.toy_recipe["params"]).fit(data.train,
    **GAN.toy_recipe["fit"])`` (docs/gan.md gives its benchmark figures).

    ``likelihood = None``: a GAN defines no density, and ``log_prob`` raises
    :class:`~genlab.exceptions.LikelihoodNotAvailableError` naming the sample metrics to
    use instead. Both players train in one step (simultaneous updates); ``fit`` takes the
    trainer's options with GAN defaults (lr 2e-4, constant schedule, no clipping, EMA 0.999).

    Examples
    --------
    >>> import genlab
    >>> data = genlab.datasets.load("digits")
    >>> gan = genlab.create("gan", width=16).fit(data.train, max_steps=5, progress=False)
    >>> gan.sample(4, seed=0).shape
    torch.Size([4, 1, 8, 8])
    """

    name = "gan"
    likelihood = None
    modalities = ("image", "tabular")
    demo: ClassVar[dict[str, Any]] = {"params": {"architecture": "conv", "width": 64, "loss": "ns", "r1_gamma": 1.0},
                                      "fit": {"max_steps": 2000, "batch_size": 128}}
    # The recommended recipe for low-dimensional mixtures (PacGAN's 2-D ring and grid); see
    # docs/gan.md and benchmarks/gan.py for its 10-seed figures.
    toy_recipe: ClassVar[dict[str, Any]] = {
        "params": {"latent_dim": 2, "architecture": "mlp", "hidden_dims": (256, 256, 256), "loss": "ns",
                   "r1_gamma": 0.01, "r1_every": 4, "pack": 2, "beta1": 0.0, "beta2": 0.9},
        "fit": {"max_steps": 25000, "batch_size": 256, "lr": 2e-3, "lr_schedule": "cosine", "min_lr_ratio": 0.01,
                "ema_decay": 0.999}}
    _fitted_attributes = ("module_",)
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "latent_dim": [Interval(int, 1, None)],
        "architecture": [Options("auto", "mlp", "conv")],
        "hidden_dims": [Sequence(Interval(int, 1, None))],
        "width": [Interval(int, 1, None)],
        "loss": [Options(*LOSSES)],
        "spectral_norm": [bool],
        "r1_gamma": [Interval(float, 0, None)],
        "r1_every": [Interval(int, 1, None)],
        "gp_weight": [Interval(float, 0, None)],
        "pack": [Interval(int, 1, None)],
        "d_lr_ratio": [Interval(float, 0, None, closed="neither")],
        "beta1": [Interval(float, 0, 1, closed="left")],
        "beta2": [Interval(float, 0, 1, closed="left")],
        "conditional": [bool],
        "standardize": [bool],
    }

    def __init__(self, latent_dim: int = 64, architecture: str = "auto", hidden_dims: tuple[int, ...] = (256, 256, 256),
                 width: int = 64, loss: str = "ns", spectral_norm: bool = False, r1_gamma: float = 1.0,
                 gp_weight: float = 10.0, pack: int = 1, d_lr_ratio: float = 1.0, beta1: float = 0.5,
                 beta2: float = 0.999, conditional: bool = False, standardize: bool = True, r1_every: int = 1):
        self.latent_dim = latent_dim
        self.architecture = architecture
        self.hidden_dims = hidden_dims
        self.width = width
        self.loss = loss
        self.spectral_norm = spectral_norm
        self.r1_gamma = r1_gamma
        self.r1_every = r1_every
        self.gp_weight = gp_weight
        self.pack = pack
        self.d_lr_ratio = d_lr_ratio
        self.beta1 = beta1
        self.beta2 = beta2
        self.conditional = conditional
        self.standardize = standardize

    def _arch(self, shape: tuple[int, ...]) -> str:
        conv_ok = len(shape) == 3 and shape[1] % 4 == 0 and shape[2] % 4 == 0
        if self.architecture == "conv" and not conv_ok:
            raise InvalidParameterError(f"architecture='conv' needs images with sides divisible by 4; got {shape}.")
        if self.architecture == "auto":
            return "conv" if conv_ok else "mlp"
        return self.architecture

    def fit(self, X: Any, y: Any = None, *, val: Any = None, callbacks=(), **training: Any) -> GAN:
        """Train both players; ``training`` are :class:`~genlab.training.TrainConfig` options
        (GAN defaults: lr 2e-4, constant schedule, no clipping, EMA 0.999, batch 128)."""
        self._validate_params()
        cfg = TrainConfig.from_kwargs(f"{type(self).__name__}.fit()", **{**TRAINING_DEFAULTS, **training})
        x, y_t, codec = self._training_data(X, y)
        if self.conditional and y_t is None:
            raise DataError("conditional=True needs labels: fit(X, y) or a labelled Split.")
        if self.conditional and self.pack > 1:
            raise InvalidParameterError("pack > 1 and conditional=True cannot be combined (a pack mixes labels).")
        if cfg.batch_size % self.pack:
            raise InvalidParameterError(f"batch_size={cfg.batch_size} must be a multiple of pack={self.pack}.")
        self.codec_ = codec
        shape = tuple(codec.event_shape)
        self.n_classes_ = int(y_t.max()) + 1 if self.conditional else 0
        self.class_prior_ = (torch.bincount(y_t, minlength=self.n_classes_).float() / len(y_t)
                             if self.conditional else None)
        self.arch_ = self._arch(shape)
        self.network_config_ = {
            "shape": shape, "latent_dim": self.latent_dim, "architecture": self.arch_,
            "hidden": tuple(self.hidden_dims), "width": self.width, "n_classes": self.n_classes_, "loss": self.loss,
            "sn": self.spectral_norm, "pack": self.pack, "gp_weight": float(self.gp_weight),
            "r1_gamma": float(self.r1_gamma), "r1_every": int(self.r1_every), "d_lr_scale": float(self.d_lr_ratio),
            "betas": (self.beta1, self.beta2),
            "image_output": codec.modality == "image"}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = GANNetwork(**self.network_config_)
        if self.standardize:
            module.set_standardization(x)
        train = [x] if not self.conditional else [x, y_t]
        trainer = Trainer(module, cfg, callbacks).fit(train, None)
        self.module_ = module.cpu().eval()
        self.history_ = trainer.history
        self.n_steps_ = trainer.step
        return self

    @torch.no_grad()
    def sample(self, n: int, *, seed: Any = None, condition: Any = None) -> torch.Tensor:
        """``n`` samples in the data's form (images in [0, 1], rows in original units)."""
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterError(f"n must be a positive int; got {n!r}.")
        gen = as_generator(seed)
        y = self._labels_for(condition, n, gen)
        z = torch.randn(n, self.latent_dim, generator=gen)
        x = self.module_.generate(z, y)
        if self.codec_.modality == "image":
            x = self.codec_.quantize(x)
        return self.codec_.decode(x)

    def log_prob(self, X: Any, y: Any = None, **kwargs: Any) -> torch.Tensor:
        """Not available: a GAN defines no density."""
        raise LikelihoodNotAvailableError(
            "a GAN defines no density, so it has no log_prob. Judge it by its samples: genlab.evaluate(model, data) "
            "reports Fréchet and kernel distances, precision/recall, density/coverage and mode coverage "
            "(genlab.metrics.mode_collapse for mixtures).")

    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {k: v.contiguous() for k, v in self.module_.state_dict().items()}
        if self.class_prior_ is not None:
            tensors["__class_prior"] = self.class_prior_
        cfg = {**self.network_config_, "shape": list(self.network_config_["shape"]),
               "hidden": list(self.network_config_["hidden"]), "betas": list(self.network_config_["betas"])}
        return tensors, {"network": cfg, "n_steps": self.n_steps_, "n_classes": self.n_classes_, "arch": self.arch_}

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        cfg = dict(state["network"])
        cfg["shape"], cfg["hidden"], cfg["betas"] = tuple(cfg["shape"]), tuple(cfg["hidden"]), tuple(cfg["betas"])
        self.network_config_ = cfg
        self.class_prior_ = tensors.pop("__class_prior", None)
        module = GANNetwork(**cfg)
        missing, unexpected = module.load_state_dict(tensors, strict=False)
        if unexpected or set(missing) - {"shift", "scale", "r1_step"}:   # models saved before these existed
            module.load_state_dict(tensors)                        # raises with the full list
        self.module_ = module.eval()
        self.n_steps_ = state.get("n_steps", 0)
        self.n_classes_ = state.get("n_classes", 0)
        self.arch_ = state.get("arch", cfg["architecture"])
        self.history_ = []
