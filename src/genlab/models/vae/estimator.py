"""VAE: the variational autoencoder as a genlab model."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import torch

from genlab.base import GenerativeModel
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.vae.network import VAEConfig, VAENetwork
from genlab.training import TrainConfig, Trainer
from genlab.utils.random import as_generator
from genlab.utils.validation import Interval, Options, Sequence

__all__ = ["VAE"]


class VAE(GenerativeModel):
    """Variational autoencoder (Kingma & Welling 2014) with beta-VAE, IWAE and labels.

    Parameters
    ----------
    latent_dim : int, default 16
        Size Z of the Gaussian latent z ~ N(0, I).
    architecture : {"mlp", "conv"}, default "mlp"
        Fully connected encoder/decoder, or stride-2 convolutions (images only).
    hidden_dims : tuple of int, default (512, 256)
        Widths of the MLP (encoder order; the decoder mirrors it). With ``"conv"``
        the first entry is the dense layer between the convolutions and z.
    conv_channels : tuple of int, default (32, 64)
        Channels of the convolutional stages (each halves the resolution).
    decoder : {"auto", "categorical", "logistic", "bernoulli", "gaussian"}, default "auto"
        Observation model p(x|z). ``"categorical"``: a softmax over the L grey levels
        of each pixel; ``"logistic"``: the discretised logistic. Both give an exact
        discrete likelihood, so bits/dim compares with every other family.
        ``"bernoulli"`` is exact only for binary images; ``"gaussian"`` is a density
        for continuous data (tables). ``"auto"`` picks bernoulli for 2-level images,
        categorical for other discrete images, gaussian otherwise.
    beta : float, default 1.0
        Weight of the KL term (beta-VAE, Higgins et al. 2017); 1 is the true ELBO.
    objective : {"elbo", "iwae"}, default "elbo"
        Training bound: the ELBO, or the importance-weighted bound with
        ``n_train_samples`` samples (Burda et al. 2016).
    n_train_samples : int, default 1
        Samples of z per example in the training objective (k).
    conditional : bool, default False
        Learn p(x | y) from labels: ``fit`` then needs labels, ``sample`` takes
        ``condition=labels``.

    Attributes
    ----------
    module_ : VAENetwork
        The trained network. ``codec_``: the data codec. ``n_classes_``, ``class_prior_``:
        label count and training frequencies (conditional models). ``history_``: training log.

    Examples
    --------
    >>> import genlab
    >>> data = genlab.datasets.load("digits")
    >>> vae = genlab.create("vae", latent_dim=8).fit(data.train, max_steps=20, progress=False)
    >>> vae.sample(4, seed=0).shape
    torch.Size([4, 1, 8, 8])
    """

    name = "vae"
    likelihood = "lower_bound"
    modalities = ("image", "tabular")
    _fitted_attributes = ("module_",)
    # digits has 1,438 training images: a small conv net with weight decay, and keep_best
    # (the weights with the lowest val loss, measured every 250 steps) against overfitting.
    demo = {"params": {"latent_dim": 16, "architecture": "conv", "hidden_dims": (256,), "conv_channels": (32, 64)},
            "fit": {"max_steps": 3000, "batch_size": 128, "lr": 1e-3, "warmup_steps": 100, "weight_decay": 0.1,
                    "eval_every": 250, "keep_best": True}}
    _parameter_constraints = {
        "latent_dim": [Interval(int, 1, None)],
        "architecture": [Options("mlp", "conv")],
        "hidden_dims": [Sequence(Interval(int, 1, None))],
        "conv_channels": [Sequence(Interval(int, 1, None))],
        "decoder": [Options("auto", "categorical", "logistic", "bernoulli", "gaussian")],
        "beta": [Interval(float, 0, None)],
        "objective": [Options("elbo", "iwae")],
        "n_train_samples": [Interval(int, 1, None)],
        "conditional": [bool],
    }

    def __init__(self, latent_dim: int = 16, architecture: str = "mlp", hidden_dims: tuple[int, ...] = (512, 256),
                 conv_channels: tuple[int, ...] = (32, 64), decoder: str = "auto", beta: float = 1.0,
                 objective: str = "elbo", n_train_samples: int = 1, conditional: bool = False):
        self.latent_dim = latent_dim
        self.architecture = architecture
        self.hidden_dims = hidden_dims
        self.conv_channels = conv_channels
        self.decoder = decoder
        self.beta = beta
        self.objective = objective
        self.n_train_samples = n_train_samples
        self.conditional = conditional

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, val: Any = None, callbacks=(), **training: Any) -> VAE:
        """Train on images (N, C, H, W) in [0, 1] or rows (N, D), or a :class:`~genlab.data.Split`.

        Parameters
        ----------
        X : Split, Tensor or array
            Training data. A Split carries its codec (levels, column statistics).
        y : array of int, optional
            Labels (N,); required when ``conditional=True``.
        val : Split, Tensor or array, optional
            Validation data, evaluated every ``eval_every`` steps and at the end.
        callbacks : sequence
            Trainer callbacks (see :mod:`genlab.training.callbacks`).
        **training
            :class:`~genlab.training.TrainConfig` options: ``max_steps``, ``epochs``,
            ``batch_size``, ``lr``, ``precision``, ``out``, ``resume``, ``seed``...

        Returns
        -------
        self
        """
        self._validate_params()
        cfg = TrainConfig.from_kwargs(f"{type(self).__name__}.fit()", **training)
        x, y_t, codec = self._training_data(X, y)
        self.codec_ = codec
        net_cfg = self._network_config(codec, y_t)
        with torch.random.fork_rng(devices=[]):   # seeded init without touching the global RNG
            torch.manual_seed(cfg.seed)
            module = VAENetwork(net_cfg)
        train = [x] if not self.conditional else [x, y_t]
        val_t = None
        if val is not None:
            xv, yv = self._val_data(val, codec)
            val_t = [xv] if not self.conditional else [xv, yv]
        trainer = Trainer(module, cfg, callbacks).fit(train, val_t)
        self.module_ = module.cpu().eval()   # sample / log_prob run on the CPU copy
        self.history_ = trainer.history
        self.n_steps_ = trainer.step
        self.best_step_ = trainer.best_step     # with keep_best: the step whose weights were kept
        return self

    def _network_config(self, codec, y) -> VAEConfig:
        shape = codec.event_shape
        levels = getattr(codec, "levels", None)
        decoder = self.decoder
        if decoder == "auto":
            decoder = ("bernoulli" if levels == 2 else "categorical") if levels else "gaussian"
        if decoder in ("categorical", "logistic") and not levels:
            raise InvalidParameterError(
                f"decoder={decoder!r} needs discrete data (images with a known number of levels); "
                f"this data is continuous ({codec!r}). Use decoder='gaussian'."
            )
        if self.architecture == "conv" and len(shape) != 3:
            raise InvalidParameterError("architecture='conv' needs images (N, C, H, W); use 'mlp' for tables.")
        n_classes, self.class_prior_ = 0, None
        if self.conditional:
            if y is None:
                raise DataError("conditional=True needs labels: fit(X, y) or a labelled Split.")
            n_classes = int(y.max()) + 1
            self.class_prior_ = torch.bincount(y, minlength=n_classes).float() / len(y)
        self.n_classes_ = n_classes
        return VAEConfig(tuple(shape), self.latent_dim, self.architecture, tuple(self.hidden_dims),
                         tuple(self.conv_channels), decoder, levels, n_classes, float(self.beta),
                         self.objective, self.n_train_samples)

    def _val_data(self, val: Any, codec) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.codec_ = codec
        xv, yv = self._eval_data(val)
        if self.conditional and yv is None:
            raise DataError("validation data for a conditional VAE needs labels.")
        return xv, yv

    # ------------------------------------------------------------------ use
    @torch.no_grad()
    def sample(self, n: int, *, seed: Any = None, condition: Any = None, mode: str = "sample",
               temperature: float = 1.0) -> Any:
        """Draw ``n`` examples: z ~ N(0, temperature^2 I), then x ~ p(x | z[, y]).

        Parameters
        ----------
        n : int
            Number of samples.
        seed : int, torch.Generator or None
            The same int gives the same samples; a Generator is advanced, so repeated
            calls with one Generator give new samples.
        condition : int or array of int, optional
            Labels (one for all, or n) for a conditional VAE; None draws them from
            the training label frequencies.
        mode : {"sample", "mean"}
            ``"mean"`` returns E[x | z] instead of a draw (smoother images).
        temperature : float
            Scale of the prior noise.

        Returns
        -------
        Tensor
            Images (n, C, H, W) in [0, 1] or rows (n, D) in original units.
        """
        self._check_fitted()
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidParameterError(f"n must be a positive int; got {n!r}.")
        if mode not in ("sample", "mean"):
            raise InvalidParameterError(f"mode must be 'sample' or 'mean'; got {mode!r}.")
        gen = as_generator(seed)
        y = self._labels_for(condition, n, gen)
        z = temperature * torch.randn((n, self.latent_dim), generator=gen)
        x = self.module_.draw_x(self.module_.decode(z, y), gen, mode)
        return self.codec_.decode(x)

    @torch.no_grad()
    def log_prob(self, X: Any, y: Any = None, *, n_samples: int = 100, seed: Any = 0,
                 batch_size: int = 256) -> torch.Tensor:
        """Importance-weighted lower bound on log p(x) in nats per example, shape (n,).

        ``log p(x) >= E[log (1/k) sum_i p(x, z_i) / q(z_i | x)]`` (Burda et al. 2016); the
        bound tightens as ``n_samples`` (k) grows and equals the ELBO at k = 1. With
        the categorical or logistic decoder on discrete images this bounds the exact
        discrete probability of x (no dequantisation), so ``-log_prob / (D ln 2)`` is
        comparable bits/dim. For a conditional model, labels ``y`` give log p(x | y);
        without them log p(x) = log sum_c p(c) p(x | c) is computed over all classes.
        The default ``seed=0`` makes repeated calls return the same values.
        """
        self._check_fitted()
        if not isinstance(n_samples, int) or n_samples < 1:
            raise InvalidParameterError(f"n_samples must be a positive int; got {n_samples!r}.")
        x, y_t = self._eval_data(X, y)
        gen = as_generator(seed)
        if not self.conditional:
            return self._iwae(x, None, n_samples, gen, batch_size)
        if y_t is not None:
            return self._iwae(x, y_t, n_samples, gen, batch_size)
        # one bound per class; an int seed gives every class the same noise (common random numbers)
        per_class = torch.stack([
            self._iwae(x, torch.full((len(x),), c, dtype=torch.long), n_samples,
                       gen if isinstance(seed, torch.Generator) else as_generator(seed), batch_size)
            + torch.log(self.class_prior_[c]) for c in range(self.n_classes_)
        ])
        return torch.logsumexp(per_class, dim=0)

    def _iwae(self, x, y, k, gen, batch_size) -> torch.Tensor:
        out = []
        chunk = max(1, min(k, 4096 // max(1, min(batch_size, len(x)))))   # bound the (k, B) decoder batch
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size]
            yb = None if y is None else y[s:s + batch_size]
            lws = [self.module_.log_weights(xb, yb, min(chunk, k - i), gen) for i in range(0, k, chunk)]
            out.append(torch.logsumexp(torch.cat(lws), dim=0) - math.log(k))
        return torch.cat(out)

    @torch.no_grad()
    def reconstruct(self, X: Any, y: Any = None, *, mode: str = "mean", seed: Any = 0) -> Any:
        """Encode to the posterior mean of z and decode: images/rows like the input."""
        self._check_fitted()
        x, y_t = self._eval_data(X, y)
        if self.conditional and y_t is None:
            raise DataError("reconstruct() on a conditional VAE needs the labels y.")
        mu, _ = self.module_.encode(x, y_t)
        return self.codec_.decode(self.module_.draw_x(self.module_.decode(mu, y_t), as_generator(seed), mode))

    @torch.no_grad()
    def encode(self, X: Any, y: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior q(z|x): mean and standard deviation, each (n, latent_dim)."""
        self._check_fitted()
        x, y_t = self._eval_data(X, y)
        mu, logvar = self.module_.encode(x, y_t)
        return mu, torch.exp(0.5 * logvar)

    @torch.no_grad()
    def interpolate(self, x_start: Any, x_end: Any, steps: int = 8, *, y: Any = None) -> Any:
        """Decode ``steps`` points on the line between the posterior means of two examples."""
        mu0, _ = self.encode(x_start, y)
        mu1, _ = self.encode(x_end, y)
        t = torch.linspace(0, 1, steps).view(-1, 1)
        z = (1 - t) * mu0[:1] + t * mu1[:1]
        y_t = None if y is None else torch.as_tensor(y).long().reshape(-1)[:1].expand(steps)
        return self.codec_.decode(self.module_.draw_x(self.module_.decode(z, y_t), as_generator(0), "mean"))

    def likelihood_units(self) -> str:
        """``"discrete"`` for categorical/logistic decoders and Bernoulli on binary data."""
        self._check_fitted()
        cfg = self.module_.cfg
        if cfg.decoder in ("categorical", "logistic") or (cfg.decoder == "bernoulli" and cfg.levels == 2):
            return "discrete"
        return "density"

    # ------------------------------------------------------------------ state
    def _get_state(self):
        state = {"network": {**asdict(self.module_.cfg)}, "n_steps": self.n_steps_, "best_step": self.best_step_,
                 "class_prior": None if self.class_prior_ is None else self.class_prior_.tolist()}
        return dict(self.module_.state_dict()), state

    def _set_state(self, tensors, state):
        net = state["network"]
        cfg = VAEConfig(**{**net, "event_shape": tuple(net["event_shape"]), "hidden_dims": tuple(net["hidden_dims"]),
                           "conv_channels": tuple(net["conv_channels"])})
        self.module_ = VAENetwork(cfg)
        self.module_.load_state_dict(tensors)
        self.module_.eval()
        self.n_steps_ = state.get("n_steps", 0)
        self.best_step_ = state.get("best_step")
        self.n_classes_ = cfg.n_classes
        prior = state.get("class_prior")
        self.class_prior_ = None if prior is None else torch.tensor(prior)
        self.history_ = []
