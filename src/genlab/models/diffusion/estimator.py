"""``genlab.create("diffusion")``: denoising diffusion models through the shared trainer."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, ClassVar

import torch

from genlab.base import GenerativeModel
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.diffusion.bound import variational_bound
from genlab.models.diffusion.networks import DiffusionConfig, DiffusionNetwork
from genlab.models.diffusion.samplers import SAMPLERS, make_sampler, sample_loop
from genlab.models.diffusion.schedules import SCHEDULES
from genlab.training import TrainConfig, Trainer
from genlab.utils.random import as_generator
from genlab.utils.validation import Interval, Options, Sequence

__all__ = ["Diffusion"]

# Diffusion training defaults (the likelihood models' are lr 1e-3 with clipping and no EMA):
# EMA of the weights on, its decay short enough for runs of a few thousand steps
# (0.995**1000 = 0.7% weight left on the initial weights; 0.999 would leave 37%).
TRAINING_DEFAULTS = {"lr": 2e-3, "ema_decay": 0.995, "warmup_steps": 100, "batch_size": 128, "grad_clip": 1.0}
DEFAULT_STEPS = {"ddim": 50, "dpm++2m": 20}      # ddpm: every timestep


class Diffusion(GenerativeModel):
    """Denoising diffusion probabilistic model (Ho et al. 2020) for images, vectors and tables.

    Parameters
    ----------
    architecture : {"auto", "unet", "mlp"}, default "auto"
        The denoiser: a UNet (images) or a residual MLP (vectors, tables; images flattened).
        "auto": the UNet for images whose sides divide by 2 ** (len(channels) - 1), else the MLP.
    channels : tuple of int, default (32, 64)
        UNet width at each resolution level (diffusers' ``block_out_channels``).
    layers_per_block : int, default 1
        Residual blocks per level on the way down (one more on the way up).
    attention_levels : tuple of int, default (1,)
        Levels (0 = full resolution) with self-attention after each residual block; the
        middle block always has one.
    head_dim : int, default 64
        Channels per attention head (a width below it is one head), as in Dhariwal &
        Nichol's ADM; diffusers' ``UNet2DModel`` defaults to 8, which costs 3-4x more
        attention time on the CPU for the same parameters.
    norm_groups : int, default 32
        GroupNorm groups (gcd(norm_groups, width) in each layer).
    hidden_dims : tuple of int, default (256, 256, 256)
        Widths of the MLP denoiser's residual blocks.
    timesteps : int, default 1000
        Number T of diffusion steps.
    schedule : {"cosine", "linear"}, default "cosine"
        Noise schedule: Nichol & Dhariwal's cosine, or Ho et al.'s linear betas (T >= 100).
    prediction : {"eps", "x0", "v", "levels"}, default "eps"
        What the network predicts: the noise, the clean data, v (Salimans & Ho 2022), or, for
        images with L grey levels, L logits per pixel that Bayes' rule combines with the
        pixel's own noisy value into a posterior over the levels (the clean estimate is its
        mean; trained by cross-entropy). "levels" is exact at low noise, where the others
        must learn to round: on digits its bound is 1.8 bits/dim against 3.5 for "eps".
    loss_weighting : {"none", "min-snr"}, default "none"
        "none": mean squared error on the prediction target; "min-snr": Min-SNR-gamma
        weighting (Hang et al. 2023) with ``snr_gamma``. ("levels" is always trained by
        unweighted cross-entropy.)
    snr_gamma : float, default 5.0
        gamma of Min-SNR weighting.
    conditional : bool, default False
        Class-conditional model: ``fit`` needs labels, ``sample`` takes ``condition`` and
        ``guidance`` (classifier-free guidance, Ho & Salimans 2022).
    label_dropout : float, default 0.1
        Probability of training on the null label instead of the true one (conditional models).
    dropout : float, default 0.0
        Dropout inside the residual blocks.

    Attributes
    ----------
    module_ : DiffusionNetwork
        The trained network (EMA weights by default) and its schedule. ``codec_``: the
        data codec. ``n_classes_``, ``class_prior_``: labels (conditional models).
        ``history_``, ``n_steps_``: training log and steps.

    Notes
    -----
    ``likelihood = "lower_bound"``: :meth:`log_prob` is the variational bound. Images are
    modelled in [-1, 1] (2 x - 1); for images with L grey levels the bound is on the
    probability of the discrete image (no dequantisation), see :meth:`log_prob`.

    Examples
    --------
    >>> import genlab
    >>> data = genlab.datasets.load("digits")
    >>> model = genlab.create("diffusion", channels=(8, 16), timesteps=50)
    >>> model = model.fit(data.train, max_steps=2, batch_size=16, progress=False)
    >>> model.sample(4, steps=5, seed=0).shape
    torch.Size([4, 1, 8, 8])
    """

    name = "diffusion"
    likelihood = "lower_bound"
    modalities = ("image", "tabular")
    _fitted_attributes = ("module_",)
    # digits: the benchmark's UNet with the grey-level head (at 1,500 steps its test bound was 1.81 bits/dim
    # against 3.50 with eps-prediction, for the same sample quality). 1,200 steps cost about 100 s of CPU
    # (86 ms a step on one core), about a minute on 2 cores
    demo: ClassVar[dict[str, Any]] = {
        "params": {"channels": (32, 64), "attention_levels": (1,), "timesteps": 1000, "schedule": "cosine",
                   "prediction": "levels"},
        "fit": {"max_steps": 1200, "batch_size": 64, "lr": 2e-3, "warmup_steps": 100, "ema_decay": 0.995}}
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "architecture": [Options("auto", "unet", "mlp")],
        "channels": [Sequence(Interval(int, 1, None))],
        "layers_per_block": [Interval(int, 1, None)],
        "attention_levels": [Sequence(Interval(int, 0, None), min_len=0)],
        "head_dim": [Interval(int, 1, None)],
        "norm_groups": [Interval(int, 1, None)],
        "hidden_dims": [Sequence(Interval(int, 1, None))],
        "timesteps": [Interval(int, 2, None)],
        "schedule": [Options(*SCHEDULES)],
        "prediction": [Options("eps", "x0", "v", "levels")],
        "loss_weighting": [Options("none", "min-snr")],
        "snr_gamma": [Interval(float, 0, None, closed="neither")],
        "conditional": [bool],
        "label_dropout": [Interval(float, 0, 1, closed="left")],
        "dropout": [Interval(float, 0, 1, closed="left")],
    }

    def __init__(self, architecture: str = "auto", channels: tuple[int, ...] = (32, 64), layers_per_block: int = 1,
                 attention_levels: tuple[int, ...] = (1,), head_dim: int = 64, norm_groups: int = 32,
                 hidden_dims: tuple[int, ...] = (256, 256, 256), timesteps: int = 1000, schedule: str = "cosine",
                 prediction: str = "eps", loss_weighting: str = "none", snr_gamma: float = 5.0,
                 conditional: bool = False, label_dropout: float = 0.1, dropout: float = 0.0):
        self.architecture = architecture
        self.channels = channels
        self.layers_per_block = layers_per_block
        self.attention_levels = attention_levels
        self.head_dim = head_dim
        self.norm_groups = norm_groups
        self.hidden_dims = hidden_dims
        self.timesteps = timesteps
        self.schedule = schedule
        self.prediction = prediction
        self.loss_weighting = loss_weighting
        self.snr_gamma = snr_gamma
        self.conditional = conditional
        self.label_dropout = label_dropout
        self.dropout = dropout

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, val: Any = None, callbacks=(), **training: Any) -> Diffusion:
        """Train on images (N, C, H, W) in [0, 1], rows (N, D), or a :class:`~genlab.data.Split`.

        Parameters
        ----------
        X : Split, Tensor or array
            Training data.
        y : array of int, optional
            Labels (N,); required when ``conditional=True``.
        val : Split, Tensor or array, optional
            Validation data: its denoising loss (fixed noise) is logged every ``eval_every`` steps.
        callbacks : sequence
            Trainer callbacks.
        **training
            :class:`~genlab.training.TrainConfig` options, with the diffusion defaults
            lr 2e-3, 100 warmup steps, batch 128, clipping at 1.0, EMA 0.995.

        Returns
        -------
        self
        """
        self._validate_params()
        cfg = TrainConfig.from_kwargs(f"{type(self).__name__}.fit()", **{**TRAINING_DEFAULTS, **training})
        x, y_t, codec = self._training_data(X, y)
        net_cfg = self._network_config(codec, x, y_t)
        with torch.random.fork_rng(devices=[]):   # seeded init without touching the global RNG
            torch.manual_seed(cfg.seed)
            module = DiffusionNetwork(net_cfg)
        train = [x] if not self.conditional else [x, y_t]
        val_t = None
        self.codec_ = codec                     # _eval_data checks val against it
        if val is not None:
            xv, yv = self._eval_data(val)
            if self.conditional and yv is None:
                raise DataError("validation data for a conditional model needs labels.")
            val_t = [xv] if not self.conditional else [xv, yv]
        trainer = Trainer(module, cfg, callbacks).fit(train, val_t)
        self.history_ = trainer.history
        self.n_steps_ = trainer.step
        self.module_ = module.cpu().eval()      # set last: the model counts as fitted from here
        return self

    def _network_config(self, codec, x: torch.Tensor, y: torch.Tensor | None) -> DiffusionConfig:
        shape = tuple(codec.event_shape)
        image = codec.modality == "image"
        arch = self.architecture
        factor = 2 ** (len(self.channels) - 1)
        unet_ok = image and len(shape) == 3 and shape[1] % factor == 0 and shape[2] % factor == 0
        if arch == "auto":
            arch = "unet" if unet_ok else "mlp"
        if arch == "unet" and not unet_ok:
            raise InvalidParameterError(
                f"architecture='unet' needs images whose height and width divide by 2 ** (len(channels) - 1) = "
                f"{factor}; got data of shape {shape}. Use fewer levels in channels, or architecture='mlp'.")
        if arch == "unet":
            bad = [a for a in self.attention_levels if a >= len(self.channels)]
            if bad:
                raise InvalidParameterError(
                    f"attention_levels {tuple(self.attention_levels)} name levels beyond the "
                    f"{len(self.channels)} levels of channels={tuple(self.channels)} "
                    f"(levels 0..{len(self.channels) - 1}).")
            attn_widths = [self.channels[a] for a in self.attention_levels] + [self.channels[-1]]
            if any(w % max(1, w // self.head_dim) for w in attn_widths):
                raise InvalidParameterError(
                    f"head_dim={self.head_dim} must split the width of every level with attention (and of the "
                    f"last level, whose middle block has attention) into equal heads; widths {attn_widths}.")
        levels = getattr(codec, "levels", None) if image else None
        if self.prediction == "levels" and not levels:
            raise InvalidParameterError(
                f"prediction='levels' needs images with a known number of grey levels; this data is {codec!r}. "
                "Use prediction='eps', 'x0' or 'v'.")
        n_classes, self.class_prior_ = 0, None
        if self.conditional:
            if y is None:
                raise DataError("conditional=True needs labels: fit(X, y) or a labelled Split.")
            n_classes = int(y.max()) + 1
            self.class_prior_ = torch.bincount(y, minlength=n_classes).float() / len(y)
        self.n_classes_ = n_classes
        mean, std = (), ()
        if not image:                           # the model sees unit-variance coordinates
            mean = tuple(x.mean(0).flatten().tolist())
            std = tuple(s if s > 0 else 1.0 for s in x.std(0, unbiased=False).flatten().tolist())
        return DiffusionConfig(shape, arch, tuple(self.channels), self.layers_per_block, tuple(self.attention_levels),
                               self.head_dim, self.norm_groups, tuple(self.hidden_dims), self.timesteps,
                               self.schedule, self.prediction, self.loss_weighting, float(self.snr_gamma), n_classes,
                               float(self.label_dropout), float(self.dropout), image,
                               levels if self.prediction == "levels" else None, mean, std)

    # ------------------------------------------------------------------ sampling
    def _check_sampling(self, n: Any, steps: Any, sampler: Any, eta: Any, guidance: Any) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterError(f"n must be a positive int; got {n!r}.")
        if sampler not in SAMPLERS:
            raise InvalidParameterError(f"sampler must be one of {', '.join(map(repr, SAMPLERS))}; got {sampler!r}.")
        T = self.module_.cfg.timesteps
        if steps is None:
            steps = DEFAULT_STEPS.get(sampler, T)
            steps = min(steps, T)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
            raise InvalidParameterError(f"steps must be an int in 1..timesteps={T}; got {steps!r}.")
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 <= eta <= 1:
            raise InvalidParameterError(f"eta must be a float in [0, 1]; got {eta!r}.")
        if eta and sampler != "ddim":
            raise InvalidParameterError(f"eta applies to sampler='ddim' only; got eta={eta} with sampler={sampler!r}.")
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not math.isfinite(guidance):
            raise InvalidParameterError(f"guidance must be a finite float; got {guidance!r}.")
        if guidance != 1.0 and not self.conditional:
            raise InvalidParameterError(
                f"guidance={guidance} needs a conditional model (conditional=True, trained with labels); "
                "this one is unconditional, so only guidance=1.0 applies.")
        return steps

    def _predictor(self, y: torch.Tensor | None, guidance: float):
        """``predict(x_t, t)``: the network output, with classifier-free guidance
        ``out_uncond + w (out_cond - out_uncond)`` (w = 1: conditional, w = 0: unconditional)."""
        net = self.module_
        if y is None or guidance == 1.0:
            return lambda x, t: net.denoise(x, t, y)
        null = torch.full_like(y, self.n_classes_)
        if guidance == 0.0:
            return lambda x, t: net.denoise(x, t, null)
        both = torch.cat([y, null])

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            cond, uncond = net.denoise(torch.cat([x, x]), t, both).chunk(2)
            return uncond + guidance * (cond - uncond)
        return predict

    @torch.no_grad()
    def sample(self, n: int, *, seed: Any = None, condition: Any = None, steps: int | None = None,
               sampler: str = "dpm++2m", eta: float = 0.0, guidance: float = 1.0) -> Any:
        """Draw ``n`` examples by running the reverse process from pure noise.

        Parameters
        ----------
        n : int
            Number of samples.
        seed : int, torch.Generator or None
            The same int gives the same samples; a Generator is advanced.
        condition : int or array of int, optional
            Labels (one, or n) of a conditional model; None draws them from the training
            label frequencies.
        steps : int, optional
            Network evaluations (1..timesteps). Default: 20 for "dpm++2m", 50 for "ddim",
            every timestep for "ddpm".
        sampler : {"dpm++2m", "ddim", "ddpm"}
            DPM-Solver++(2M) (Lu et al. 2022), DDIM (Song et al. 2021) or ancestral DDPM.
        eta : float in [0, 1]
            DDIM's noise scale: 0 deterministic, 1 DDPM-like.
        guidance : float
            Classifier-free guidance scale w: 1 samples the conditional model, 0 the
            unconditional one (the null label), > 1 strengthens the label.

        Returns
        -------
        Tensor
            Images (n, C, H, W) in [0, 1] on the codec's grey levels (the final clean
            estimate, rounded to the nearest level), or rows (n, D) in original units.
        """
        self._check_fitted()
        steps = self._check_sampling(n, steps, sampler, eta, guidance)
        gen = as_generator(seed)
        y = self._labels_for(condition, n, gen)
        net = self.module_
        x = torch.randn((n, *net.cfg.event_shape), generator=gen)
        sched = make_sampler(sampler, net.schedule, steps, eta)
        clip = 1.0 if net.cfg.image else None
        x0 = sample_loop(self._predictor(y, float(guidance)), sched, x, net.output_kind, clip, gen)
        return self.codec_.decode(net.from_model(x0))

    # ------------------------------------------------------------------ likelihood
    @torch.no_grad()
    def log_prob(self, X: Any, y: Any = None, *, n_terms: int | None = 100, seed: Any = 0,
                 batch_size: int = 512) -> torch.Tensor:
        """Variational lower bound on log p(x) in nats per example, shape (n,).

        ``log p(x) >= -KL(q(x_T|x) || N(0, I)) - sum_t KL(q(x_{t-1}|x_t, x) || p(x_{t-1}|x_t))
        + log p(x | x_1)`` (Ho et al. 2020, eq. 5), with the reverse variances fixed to the
        posterior variances (the model the DDPM sampler draws from) and clean estimates
        clipped to [-1, 1] for images, as in sampling.

        **Dequantisation: none.** For images with L grey levels the decoder p(x | x_1) is
        the probability of x's bin under a Gaussian: the bins have width 2 / (L - 1) in the
        model's [-1, 1] space (1 / (L - 1) in [0, 1]) around each level, the outer two
        reaching to -inf and +inf. So the bound is on the probability of the discrete
        image, ``likelihood_units() == "discrete"``, and bits/dim compares with every other
        family. Continuous images (no levels) and tables get a Gaussian density decoder;
        images' density is reported in [0, 1] units (the 2x scaling's log 2 per dimension is
        added), tables' in the codec's standardised units.

        **Estimator.** The sum over the T - 1 denoising terms is stratified: the timesteps
        are cut into ``n_terms`` equal strata, each example draws one timestep per stratum
        (and one noise draw per term), and each term counts as many times as its stratum
        has timesteps; ``n_terms=None`` evaluates every timestep. Either way the estimate
        is unbiased for the bound and costs ``n_terms + 1`` network passes per example; its
        standard deviation across seeds is small next to the spread between examples (see
        docs/diffusion.md). The default ``seed=0`` makes repeated calls return the same
        values. A conditional model given labels ``y`` bounds log p(x | y); without labels,
        log p(x) >= log sum_c p(c) exp(bound(x | c)).
        """
        self._check_fitted()
        if n_terms is not None and (isinstance(n_terms, bool) or not isinstance(n_terms, int) or n_terms < 1):
            raise InvalidParameterError(f"n_terms must be a positive int or None; got {n_terms!r}.")
        x, y_t = self._eval_data(X, y)
        if not self.conditional:
            return self._bound(x, None, n_terms, as_generator(seed), batch_size)
        if y_t is not None:
            return self._bound(x, y_t, n_terms, as_generator(seed), batch_size)
        per_class = torch.stack([
            self._bound(x, torch.full((len(x),), c, dtype=torch.long), n_terms,
                        seed if isinstance(seed, torch.Generator) else as_generator(seed), batch_size)
            + torch.log(self.class_prior_[c]).double() for c in range(self.n_classes_)])
        return torch.logsumexp(per_class, dim=0)

    def _bound(self, x: torch.Tensor, y: torch.Tensor | None, n_terms: int | None, gen: torch.Generator,
               batch_size: int) -> torch.Tensor:
        net = self.module_
        levels = getattr(self.codec_, "levels", None) if net.cfg.image else None
        clip = 1.0 if net.cfg.image else None
        out = []
        for s in range(0, len(x), batch_size):
            xb = net.to_model(x[s:s + batch_size])
            yb = None if y is None else y[s:s + batch_size]
            out.append(variational_bound(lambda xt, t, yb=yb: net.denoise(xt, t, yb), xb, net.schedule,
                                         net.output_kind, levels=levels, clip=clip, n_terms=n_terms,
                                         generator=gen))
        lp = torch.cat(out)
        if levels is None:                        # a density: move it from model space to the codec's
            lp = lp + net.log_scale()
        return lp

    def likelihood_units(self) -> str:
        """``"discrete"`` for images with grey levels, ``"density"`` otherwise."""
        self._check_fitted()
        return "discrete" if self.module_.cfg.image and getattr(self.codec_, "levels", None) else "density"

    # ------------------------------------------------------------------ state
    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {k: v.contiguous() for k, v in self.module_.state_dict().items()}
        cfg = asdict(self.module_.cfg)
        state = {"network": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                 "n_steps": self.n_steps_,
                 "class_prior": None if self.class_prior_ is None else self.class_prior_.tolist()}
        return tensors, state

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        net = dict(state["network"])
        for key in ("event_shape", "channels", "attention_levels", "hidden_dims", "data_mean", "data_std"):
            net[key] = tuple(net.get(key, ()))
        module = DiffusionNetwork(DiffusionConfig(**net))
        module.load_state_dict(tensors)
        self.n_steps_ = state.get("n_steps", 0)
        self.n_classes_ = module.cfg.n_classes
        prior = state.get("class_prior")
        self.class_prior_ = None if prior is None else torch.tensor(prior)
        self.history_ = []
        self.module_ = module.eval()
