"""VAE networks: MLP and convolutional encoder/decoder, and the training objectives.

Kingma & Welling 2014 (ELBO), Higgins et al. 2017 (beta-VAE), Burda et al. 2016
(IWAE bound), Sohn et al. 2015 (conditional VAE: labels enter encoder and decoder
as one-hot vectors). Shapes: B batch, Z latent, D = prod(event_shape), P decoder
outputs per dimension (see likelihoods.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.vae.likelihoods import N_PARAMS, log_likelihood, observation_mean, sample_observation
from genlab.nn import MLP

__all__ = ["VAEConfig", "VAENetwork"]

LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig:
    event_shape: tuple[int, ...]      # (C, H, W) images or (D,) vectors
    latent_dim: int
    architecture: str                 # "mlp" | "conv"
    hidden_dims: tuple[int, ...]
    conv_channels: tuple[int, ...]
    decoder: str                      # "bernoulli" | "categorical" | "logistic" | "gaussian"
    levels: int | None
    n_classes: int                    # 0: unconditional
    beta: float = 1.0
    objective: str = "elbo"           # "elbo" | "iwae"
    n_train_samples: int = 1


class _ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, hidden): stride-2 3x3 convolutions, then a dense layer."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        c, h, w = cfg.event_shape
        layers, prev = [], c
        for ch in cfg.conv_channels:
            layers += [nn.Conv2d(prev, ch, 3, stride=2, padding=1), nn.ReLU()]
            prev, h, w = ch, (h - 1) // 2 + 1, (w - 1) // 2 + 1
        self.convs = nn.Sequential(*layers)
        self.out_features = prev * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).flatten(1)


class _ConvDecoder(nn.Module):
    """(B, F) -> (B, C*P, H, W): dense to a small map, then stride-2 transposed convolutions."""

    def __init__(self, cfg: VAEConfig, in_features: int, n_out: int):
        super().__init__()
        c, h, w = cfg.event_shape
        sizes = [(h, w)]
        for _ in cfg.conv_channels:
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
            sizes.append((h, w))
        chans = list(cfg.conv_channels)[::-1]
        self.start = (chans[0], *sizes[-1])
        self.fc = nn.Linear(in_features, chans[0] * sizes[-1][0] * sizes[-1][1])
        ups, prev = [], chans[0]
        for i, ch in enumerate(chans[1:] + [chans[-1]]):
            (hs, ws), (hb, wb) = sizes[-1 - i], sizes[-2 - i]
            op = (hb - (2 * hs - 1), wb - (2 * ws - 1))   # output_padding making the exact size
            ups += [nn.ReLU(), nn.ConvTranspose2d(prev, ch, 3, stride=2, padding=1, output_padding=op)]
            prev = ch
        self.ups = nn.Sequential(*ups, nn.ReLU())
        self.head = nn.Conv2d(prev, c * n_out, 3, padding=1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x = self.fc(f).view(-1, *self.start)          # (B, ch, h', w')
        return self.head(self.ups(x))                 # (B, C*P, H, W)


class VAENetwork(nn.Module):
    """Encoder q(z|x[,y]) = N(mu, diag(exp(logvar))), decoder p(x|z[,y]), prior N(0, I)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        D, K, Z = math.prod(cfg.event_shape), cfg.n_classes, cfg.latent_dim
        P = N_PARAMS(cfg.decoder, cfg.levels)
        self.n_params = P
        hidden = list(cfg.hidden_dims)
        if cfg.architecture == "conv":
            self.enc_body = _ConvEncoder(cfg)
            self.enc_head = MLP(self.enc_body.out_features + K, hidden[:1], 2 * Z)
            self.dec_body = MLP(Z + K, hidden[:1], None)
            self.dec_head = _ConvDecoder(cfg, self.dec_body.out_features, P)
        else:
            self.enc_body = nn.Flatten()
            self.enc_head = MLP(D + K, hidden, 2 * Z)
            self.dec_body = MLP(Z + K, hidden[::-1], None)
            width = self.dec_body.out_features
            # A categorical head over L levels for D pixels would need width*D*L weights
            # (103M for MNIST); above 2**16 outputs we factorise it: each pixel gets an
            # R-dim feature, then one shared R->L map plus a per-pixel bias (D, L).
            self.rank = 16 if cfg.decoder == "categorical" and D * P > 2**16 else 0
            if self.rank:
                self.dec_head = nn.Linear(width, D * self.rank)
                self.level_map = nn.Linear(self.rank, P, bias=False)
                self.level_bias = nn.Parameter(torch.zeros(D, P))
            else:
                self.dec_head = nn.Linear(width, D * P)
        if cfg.decoder == "gaussian":
            self.log_sigma = nn.Parameter(torch.zeros(cfg.event_shape))   # learned per dimension

    # -- building blocks ---------------------------------------------------------
    def _onehot(self, y: torch.Tensor | None, B: int, device) -> torch.Tensor:
        if self.cfg.n_classes == 0:
            return torch.zeros(B, 0, device=device)
        return F.one_hot(y, self.cfg.n_classes).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, *event) -> mu, logvar, each (B, Z)."""
        h = torch.cat([self.enc_body(x), self._onehot(y, len(x), x.device)], dim=1)
        mu, logvar = self.enc_head(h).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 10.0)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, Z) -> decoder parameters (B, *event) or (B, *event, P)."""
        B, event, P = len(z), self.cfg.event_shape, self.n_params
        f = self.dec_body(torch.cat([z, self._onehot(y, B, z.device)], dim=1))
        out = self.dec_head(f)
        if self.cfg.architecture == "conv":
            C, H, W = event
            out = out.view(B, C, P, H, W).permute(0, 1, 3, 4, 2)        # (B, C, H, W, P)
        elif self.rank:
            D = math.prod(event)
            out = self.level_map(out.view(B, D, self.rank)) + self.level_bias  # (B, D, L)
        out = out.reshape(B, *event, P)
        return out.squeeze(-1) if P == 1 else out

    def log_px(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats, (B,)."""
        return log_likelihood(self.cfg.decoder, params, x, self.cfg.levels, getattr(self, "log_sigma", None))

    def draw_x(self, params: torch.Tensor, generator: torch.Generator, mode: str = "sample") -> torch.Tensor:
        if mode == "mean":
            return observation_mean(self.cfg.decoder, params, self.cfg.levels)
        return sample_observation(self.cfg.decoder, params, self.cfg.levels, generator, getattr(self, "log_sigma", None))

    # -- objectives -------------------------------------------------------------
    def log_weights(self, x: torch.Tensor, y: torch.Tensor | None, k: int, generator: torch.Generator) -> torch.Tensor:
        """Importance log-weights log p(x, z_i) - log q(z_i | x) for k draws z_i ~ q: shape (k, B)."""
        B = len(x)
        mu, logvar = self.encode(x, y)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((k, *mu.shape), generator=generator, device=x.device)
        z = mu + std * eps                                             # (k, B, Z)
        log_q = (-0.5 * eps**2 - 0.5 * logvar - 0.5 * LOG_2PI).sum(-1)
        log_pz = (-0.5 * z**2 - 0.5 * LOG_2PI).sum(-1)
        rep = lambda t: None if t is None else t.repeat(k, *[1] * (t.ndim - 1))
        params = self.decode(z.reshape(k * B, -1), rep(y))
        log_px = self.log_px(params, rep(x)).view(k, B)
        return log_px + log_pz - log_q

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator):
        """Training loss: negative objective in nats per example (mean over the batch)."""
        cfg, k = self.cfg, self.cfg.n_train_samples
        if cfg.objective == "iwae":
            lw = self.log_weights(x, y, k, generator)                   # (k, B)
            bound = torch.logsumexp(lw, dim=0) - math.log(k)
            return -bound.mean(), {}
        # ELBO with the analytic KL(q || N(0, I)); k > 1 averages k reconstruction terms
        mu, logvar = self.encode(x, y)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((k, *mu.shape), generator=generator, device=x.device)
        z = (mu + std * eps).reshape(k * len(x), -1)
        yk = None if y is None else y.repeat(k)
        recon = self.log_px(self.decode(z, yk), x.repeat(k, *[1] * (x.ndim - 1))).view(k, -1).mean(0)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        loss = -(recon - cfg.beta * kl).mean()
        return loss, {"recon": float(-recon.detach().mean()), "kl": float(kl.detach().mean())}
