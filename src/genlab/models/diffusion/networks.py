"""Diffusion denoisers and the training objective.

- :class:`MLPDenoiser`: residual MLP for vectors (tables, 2-D toy data, flattened
  images), conditioned on the timestep (and class) by adding an embedding in every block.
- :class:`DiffusionNetwork`: a denoiser (the UNet of :mod:`genlab.nn.unet` or the MLP)
  plus the DDPM objective; ``forward(x, [y,] generator=g)`` is the trainer's loss.

The objective (Ho et al. 2020, "L_simple", generalised): draw t ~ U{0..T-1} and
eps ~ N(0, I), form x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps, and regress the
network output on the target of the chosen parameterisation: ``eps``, ``x0`` or
``v = sqrt(abar) eps - sqrt(1 - abar) x`` (Salimans & Ho 2022). Loss weighting:

- ``"none"``: the plain mean squared error on the target;
- ``"min-snr"``: Min-SNR-gamma (Hang et al. 2023), the x0-space weight min(SNR, gamma)
  expressed for the target: min(SNR, gamma) / SNR for eps, min(SNR, gamma) for x0 and
  min(SNR, gamma) / (SNR + 1) for v.

Class-conditional models replace each label by the null class (index ``n_classes``)
with probability ``label_dropout``, so that one network also learns p(x) for
classifier-free guidance (Ho & Salimans 2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.diffusion.schedules import make_schedule
from genlab.nn.embeddings import TimestepMLP
from genlab.nn.unet import UNet, UNetConfig

__all__ = ["DiffusionConfig", "DiffusionNetwork", "MLPDenoiser"]


@dataclass
class DiffusionConfig:
    event_shape: tuple[int, ...]          # (C, H, W) images or (D,) vectors
    architecture: str                     # "unet" | "mlp"
    channels: tuple[int, ...]
    layers_per_block: int
    attention_levels: tuple[int, ...]
    head_dim: int
    norm_groups: int
    hidden_dims: tuple[int, ...]
    timesteps: int
    schedule: str                         # "linear" | "cosine"
    prediction: str                       # "eps" | "x0" | "v"
    loss_weighting: str                   # "none" | "min-snr"
    snr_gamma: float
    n_classes: int                        # 0: unconditional
    label_dropout: float
    dropout: float
    image: bool                           # images: model space is 2 x - 1 in [-1, 1]
    levels: int | None = None             # grey levels L of discrete images ("levels" prediction)
    data_mean: tuple[float, ...] = ()     # vectors: per-dimension mean and std of the training data,
    data_std: tuple[float, ...] = ()      # so that the model sees unit-variance coordinates


class MLPDenoiser(nn.Module):
    """``(x (B, D), t (B,), y (B,) or None) -> (B, D)``: residual blocks with a time/class embedding.

    Each block: ``h + Linear(SiLU(Linear(SiLU(LayerNorm(h))) + emb_proj(emb)))``.
    """

    def __init__(self, dim: int, hidden: tuple[int, ...], n_classes: int = 0, dropout: float = 0.0,
                 out_dim: int | None = None):
        super().__init__()
        width = hidden[0]
        emb_dim = 4 * min(width, 64)
        self.n_classes = n_classes
        self.time_embed = TimestepMLP(min(width, 64), emb_dim)
        self.class_embed = nn.Embedding(n_classes + 1, emb_dim) if n_classes else None
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList()
        for w in hidden:
            self.blocks.append(nn.ModuleDict({
                "norm": nn.LayerNorm(width), "fc1": nn.Linear(width, w), "emb": nn.Linear(emb_dim, w),
                "fc2": nn.Linear(w, width)}))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, out_dim or dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        B = x.shape[0]
        t = t.expand(B) if t.ndim == 0 else t
        emb = self.time_embed(t)
        if self.class_embed is not None:
            if y is None:
                y = torch.full((B,), self.n_classes, dtype=torch.long, device=x.device)
            emb = emb + self.class_embed(y)
        emb = F.silu(emb)
        h = self.inp(x)
        for blk in self.blocks:
            z = F.silu(blk["fc1"](F.silu(blk["norm"](h))) + blk["emb"](emb))
            h = h + blk["fc2"](self.dropout(z))
        return self.out(F.silu(self.out_norm(h)))


class DiffusionNetwork(nn.Module):
    """The denoiser and the schedule's constants; ``forward`` is the training loss."""

    def __init__(self, cfg: DiffusionConfig):
        super().__init__()
        self.cfg = cfg
        # "levels": L logits per pixel, the network's share of the posterior over the grey levels
        per_dim = cfg.levels if cfg.prediction == "levels" else 1
        if cfg.architecture == "unet":
            c = cfg.event_shape[0]
            self.denoiser = UNet(UNetConfig(c, c * per_dim, tuple(cfg.channels), cfg.layers_per_block,
                                            tuple(cfg.attention_levels), cfg.head_dim, cfg.norm_groups,
                                            cfg.n_classes, cfg.dropout))
        else:
            self.denoiser = MLPDenoiser(math.prod(cfg.event_shape), tuple(cfg.hidden_dims), cfg.n_classes,
                                        cfg.dropout, out_dim=math.prod(cfg.event_shape) * per_dim)
        self.schedule = make_schedule(cfg.schedule, cfg.timesteps)
        abar = self.schedule.alphas_cumprod
        # float32 copies for training (not saved: they are a function of the config)
        self.register_buffer("sqrt_abar", abar.sqrt().float(), persistent=False)
        self.register_buffer("sqrt_1m_abar", (1 - abar).sqrt().float(), persistent=False)
        self.register_buffer("snr", (abar / (1 - abar)).float(), persistent=False)
        if cfg.prediction == "levels":
            self.register_buffer("grid", torch.linspace(-1, 1, cfg.levels), persistent=False)
        if not cfg.image:
            self.register_buffer("data_mean", torch.tensor(cfg.data_mean or [0.0]), persistent=False)
            self.register_buffer("data_std", torch.tensor(cfg.data_std or [1.0]), persistent=False)

    @property
    def output_kind(self) -> str:
        """What :meth:`denoise` returns: "eps", "x0" or "v" (the "levels" head returns x0)."""
        return "x0" if self.cfg.prediction == "levels" else self.cfg.prediction

    # -- spaces ------------------------------------------------------------------
    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Codec space -> model space: images [0, 1] -> [-1, 1]; vectors to zero mean, unit variance."""
        return 2 * x - 1 if self.cfg.image else (x - self.data_mean) / self.data_std

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2 if self.cfg.image else x * self.data_std + self.data_mean

    def log_scale(self) -> float:
        """log |d model / d codec| per example: what a density in model space gains in codec space."""
        if self.cfg.image:
            return math.prod(self.cfg.event_shape) * math.log(2.0)
        return -float(self.data_std.log().sum()) if self.cfg.data_std else 0.0

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Network output for x_t (B, *event) in model space at timesteps t (B,) or (): eps, x0 or v
        (``output_kind``)."""
        if self.cfg.prediction == "levels":
            return (self.level_posterior(x_t, t, y).softmax(2) * self.grid.view(-1, 1, 1)).sum(2)
        if self.cfg.architecture == "mlp":
            return self.denoiser(x_t.flatten(1), t, y).view_as(x_t)
        return self.denoiser(x_t, t, y)

    def level_posterior(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, C, L, H, W) of each pixel's grey level given x_t: the network's logits plus the
        exact log-likelihood of the pixel's own noisy value, log N(x_t; sqrt(abar) level, 1 - abar).

        x_t's pixel depends on the clean image only through its own level, so
        p(level | x_t) is proportional to N(x_t,pixel; sqrt(abar) level, 1 - abar) p(level | rest):
        the network supplies the second factor (what the other pixels say). At low noise the
        first factor alone picks the level, so clean estimates are exact there without the
        network having to learn a staircase.
        """
        B, L = x_t.shape[0], self.cfg.levels
        if self.cfg.architecture == "mlp":
            logits = self.denoiser(x_t.flatten(1), t, y).view(B, *x_t.shape[1:], L).movedim(-1, 2)
        else:
            C, H, W = x_t.shape[1:]
            logits = self.denoiser(x_t, t, y).view(B, C, L, H, W)
        t = t.expand(B) if t.ndim == 0 else t
        a, var = self.sqrt_abar[t].view(B, 1, 1, 1, 1), (self.sqrt_1m_abar[t] ** 2).view(B, 1, 1, 1, 1)
        log_lik = -(x_t.float()[:, :, None] - a * self.grid.view(-1, 1, 1)) ** 2 / (2 * var)
        return logits.float() + log_lik

    # -- the objective ------------------------------------------------------------
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator):
        cfg = self.cfg
        B, dev = x.shape[0], x.device
        x0 = self.to_model(x)
        # 1. timesteps and noise from the trainer's generator (drawn on the CPU: exact resume)
        t = torch.randint(0, cfg.timesteps, (B,), generator=generator).to(dev)
        eps = torch.randn(x0.shape, generator=generator).to(dev)
        if cfg.n_classes:
            drop = torch.rand(B, generator=generator).to(dev) < cfg.label_dropout
            y = torch.where(drop, torch.full_like(y, cfg.n_classes), y)
        # 2. x_t ~ q(x_t | x0) and the target of the parameterisation
        shape = (B, *[1] * (x0.ndim - 1))
        a, s = self.sqrt_abar[t].view(shape), self.sqrt_1m_abar[t].view(shape)
        x_t = a * x0 + s * eps
        if cfg.prediction == "levels":   # cross-entropy of the true grey level under the posterior
            logits = self.level_posterior(x_t, t, y if cfg.n_classes else None)
            k = torch.round((x0 + 1) * (cfg.levels - 1) / 2).long()
            return F.cross_entropy(logits.transpose(1, 2), k)
        target = {"eps": eps, "x0": x0, "v": a * eps - s * x0}[cfg.prediction]
        # 3. weighted mean squared error
        out = self.denoise(x_t, t, y if cfg.n_classes else None)
        per_example = ((out.float() - target) ** 2).flatten(1).mean(1)
        if cfg.loss_weighting == "min-snr":
            snr = self.snr[t]
            clipped = snr.clamp(max=cfg.snr_gamma)
            weight = {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1)}[cfg.prediction]
            per_example = weight * per_example
        return per_example.mean()
