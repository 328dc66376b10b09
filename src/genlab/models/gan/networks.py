"""GAN networks and losses.

- MLP generator / discriminator for vectors, 2-D toy data and tables; DCGAN-style
  convolutional pair for images (two stride-2 stages, so H and W must be multiples of 4:
  8x8 digits, 28x28 MNIST).
- Optional spectral normalisation of every discriminator layer (Miyato et al. 2018).
- Conditional GAN: the generator takes a label embedding with z; the discriminator is a
  projection discriminator (Miyato & Koyama 2018): D(x, y) = psi(h(x)) + <embed(y), h(x)>.
- PacGAN packing (Lin et al. 2018): the discriminator sees ``pack`` samples at once,
  concatenated along the feature axis (images: along channels).
- Losses: non-saturating (Goodfellow et al. 2014), hinge (Lim & Ye 2017), WGAN-GP
  (Gulrajani et al. 2017, penalty on random interpolates); R1 penalty on real data
  (Mescheder et al. 2018).
- Vectors (MLP players) are standardised: the players work on ``(x - shift) / scale``
  with the training data's per-feature mean and standard deviation (buffers set by
  :meth:`GANNetwork.set_standardization`), so the generator's initial output scale, the
  discriminator's initial breakpoints and the penalties' strength do not depend on the
  data's units; :meth:`GANNetwork.generate` maps samples back. Images stay in [0, 1].
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["GANNetwork", "d_loss", "g_loss", "gradient_penalty", "r1_penalty"]

LOSSES = ("ns", "hinge", "wgan-gp")


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(layer) if on else layer


class _MLPG(nn.Module):
    def __init__(self, latent_dim: int, out_dim: int, hidden: Sequence[int], n_classes: int):
        super().__init__()
        self.embed = nn.Embedding(n_classes, latent_dim) if n_classes else None
        dims = [latent_dim * (2 if n_classes else 1), *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.net(z)


class _MLPD(nn.Module):
    def __init__(self, in_dim: int, hidden: Sequence[int], n_classes: int, sn: bool):
        super().__init__()
        dims = [in_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [_sn(nn.Linear(a, b), sn), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.out = _sn(nn.Linear(dims[-1], 1), sn)
        self.embed = _sn(nn.Embedding(n_classes, dims[-1]), sn) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.body(x)
        out = self.out(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out


class _ConvG(nn.Module):
    def __init__(self, latent_dim: int, shape: tuple[int, int, int], width: int, n_classes: int):
        super().__init__()
        C, H, W = shape
        self.s = (H // 4, W // 4)
        self.embed = nn.Embedding(n_classes, latent_dim) if n_classes else None
        self.fc = nn.Linear(latent_dim * (2 if n_classes else 1), 2 * width * self.s[0] * self.s[1])
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, C, 4, 2, 1),
        )
        self.width = width

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        h = self.fc(z).view(len(z), 2 * self.width, *self.s)
        return self.net(h)


class _ConvD(nn.Module):
    def __init__(self, shape: tuple[int, int, int], width: int, n_classes: int, sn: bool):
        super().__init__()
        C, H, W = shape
        self.body = nn.Sequential(
            _sn(nn.Conv2d(C, width, 4, 2, 1), sn), nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(width, 2 * width, 4, 2, 1), sn), nn.LeakyReLU(0.2), nn.Flatten(),
        )
        feat = 2 * width * (H // 4) * (W // 4)
        self.out = _sn(nn.Linear(feat, 1), sn)
        self.embed = _sn(nn.Embedding(n_classes, feat), sn) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.body(x)
        out = self.out(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out


class GANNetwork(nn.Module):
    """Generator + discriminator; ``forward`` returns the summed training loss of one step.

    One backward pass trains both players simultaneously: the discriminator's loss sees
    detached fakes, and the generator's loss runs the discriminator with detached weights
    (``torch.func.functional_call``), so each loss only moves its own player. The
    optimiser gives the two players their own Adam betas and learning-rate scales
    (``optimizer_groups``; the two-time-scale update rule of Heusel et al. 2017).
    """

    def __init__(self, shape: tuple[int, ...], latent_dim: int, architecture: str, hidden: Sequence[int],
                 width: int, n_classes: int, loss: str, sn: bool, pack: int, gp_weight: float, r1_gamma: float,
                 d_lr_scale: float, betas: tuple[float, float], image_output: bool, r1_every: int = 1):
        super().__init__()
        self.shape, self.latent_dim, self.n_classes = tuple(shape), latent_dim, n_classes
        self.loss, self.pack, self.gp_weight, self.r1_gamma = loss, pack, gp_weight, r1_gamma
        self.r1_every = int(r1_every)
        self.d_lr_scale, self.betas, self.image_output = d_lr_scale, tuple(betas), image_output
        self.architecture = architecture
        if architecture == "conv":
            C, H, W = shape
            self.G = _ConvG(latent_dim, (C, H, W), width, n_classes)
            self.D = _ConvD((C * pack, H, W), width, n_classes, sn)
        else:
            D = int(math.prod(shape))
            self.G = _MLPG(latent_dim, D, hidden, n_classes)
            self.D = _MLPD(D * pack, hidden, n_classes, sn)
        # players' space = (model space - shift) / scale; identity until set_standardization
        n_feat = 1 if image_output else int(math.prod(shape))
        self.register_buffer("shift", torch.zeros(n_feat))
        self.register_buffer("scale", torch.ones(n_feat))
        self.register_buffer("r1_step", torch.zeros((), dtype=torch.long))   # training steps seen (lazy R1)

    @torch.no_grad()
    def set_standardization(self, x: torch.Tensor) -> None:
        """Set ``shift`` / ``scale`` to the per-feature mean and standard deviation of the
        training data ``x`` (model space); constant features keep scale 1. Images: no-op."""
        if self.image_output:
            return
        flat = x.reshape(len(x), -1).double()
        std = flat.std(0) if len(flat) > 1 else torch.ones(flat.shape[1], dtype=torch.float64)
        self.shift.copy_(flat.mean(0))
        self.scale.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))

    def _standardize(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_output:
            return x
        return ((x.reshape(len(x), -1) - self.shift) / self.scale).view_as(x)

    def optimizer_groups(self) -> list[dict]:
        return [{"params": list(self.G.parameters()), "betas": self.betas, "lr_scale": 1.0},
                {"params": list(self.D.parameters()), "betas": self.betas, "lr_scale": self.d_lr_scale,
                 "weight_decay": 0.0}]

    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Samples in model space: images in [0, 1] (sigmoid), vectors unbounded; shape (n, *shape)."""
        x = self._fake(z, y)
        if self.image_output:
            return x
        return (x.reshape(len(x), -1) * self.scale + self.shift).view_as(x)

    def _fake(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Samples in the players' space (standardised vectors; images in [0, 1])."""
        x = self.G(z, y).view(len(z), *self.shape)
        return torch.sigmoid(x) if self.image_output else x

    def _packed(self, x: torch.Tensor) -> torch.Tensor:
        if self.pack == 1:
            return x
        n = len(x) // self.pack * self.pack
        x = x[:n]
        if x.ndim == 4:                                   # images: stack along channels
            return x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])
        return x.reshape(n // self.pack, -1)

    def discriminate(self, x: torch.Tensor, y: torch.Tensor | None, params: dict | None = None) -> torch.Tensor:
        """Logits (n // pack,) of samples in the players' space (standardised vectors, see
        ``set_standardization``; images in [0, 1]); ``params`` runs D with other (e.g. detached) weights."""
        xp = self._packed(x if self.architecture == "conv" else x.reshape(len(x), -1))
        yp = None if y is None else y[: len(xp)]          # packing and labels are exclusive (checked in fit)
        if params is None:
            return self.D(xp, yp)
        return torch.func.functional_call(self.D, params, (xp, yp))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, *, generator: torch.Generator) -> tuple:
        n = len(x)
        x = self._standardize(x)                           # the players' space; penalties are measured in it
        z = torch.randn(n, self.latent_dim, generator=generator, device=x.device)
        y_fake = y                                         # conditional: fakes of the batch's labels
        fake = self._fake(z, y_fake)
        # lazy R1 (StyleGAN2): every r1_every-th training step, weighted by r1_every
        with_r1 = self.r1_gamma > 0 and int(self.r1_step) % self.r1_every == 0
        if self.training:
            self.r1_step += 1
        if with_r1:                                        # R1 differentiates these same logits
            x = x.detach().requires_grad_(True)
        real_logits = self.discriminate(x, y)
        fake_logits = self.discriminate(fake.detach(), y_fake)
        loss_d = d_loss(self.loss, real_logits, fake_logits)
        logs = {"loss_d": float(loss_d.detach())}
        if self.loss == "wgan-gp":
            gp = gradient_penalty(self, x, fake.detach(), y, generator)
            loss_d = loss_d + self.gp_weight * gp
            logs["gp"] = float(gp.detach())
        if with_r1:
            r1 = r1_penalty(self, x, y, logits=real_logits)
            loss_d = loss_d + 0.5 * self.r1_gamma * self.r1_every * r1
            logs["r1"] = float(r1.detach())
        frozen = {k: v.detach() for k, v in self.D.named_parameters()}
        frozen.update(dict(self.D.named_buffers()))
        loss_g = g_loss(self.loss, self.discriminate(fake, y_fake, params=frozen))
        logs["loss_g"] = float(loss_g.detach())
        return loss_d + loss_g, logs


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from logits (non-saturating: softplus; hinge; Wasserstein critic)."""
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return fake.mean() - real.mean()


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from the discriminator's logits on fakes."""
    return F.softplus(-fake).mean() if kind == "ns" else -fake.mean()


def gradient_penalty(net: GANNetwork, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None,
                     generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP: E[(||grad_x D(x_hat)|| - 1)^2] at x_hat = eps real + (1 - eps) fake, eps ~ U(0, 1) per example
    (per packed group: the norm is over everything the critic sees at once)."""
    eps_shape = (len(real),) + (1,) * (real.ndim - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = net.discriminate(x_hat, y)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    grad = net._packed(grad if net.architecture == "conv" else grad.reshape(len(grad), -1))
    return ((grad.reshape(len(grad), -1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(net: GANNetwork, real: torch.Tensor, y: torch.Tensor | None,
               logits: torch.Tensor | None = None) -> torch.Tensor:
    """R1: E[||grad_x D(x)||^2] on real data. ``logits``: D's output already computed from
    ``real`` (a leaf that requires grad), which saves a second forward pass."""
    if logits is None:
        x = real.detach().requires_grad_(True)
        out = net.discriminate(x, y)
    else:
        x, out = real, logits
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(len(grad), -1).pow(2).sum(1).mean()
