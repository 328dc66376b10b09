"""A UNet denoiser for images (Ho et al. 2020; the layout of diffusers' ``UNet2DModel``).

``conv_in`` -> per level: ``layers_per_block`` residual blocks (+ self-attention at the
levels in ``attention_levels``), then a stride-2 convolution except at the last level
-> middle: residual, attention, residual -> per level in reverse: ``layers_per_block + 1``
residual blocks on the concatenation with the matching skip (+ attention), then nearest
x2 upsampling and a convolution except at the first level -> GroupNorm, SiLU, ``conv_out``.

Residual blocks: GroupNorm, SiLU, 3x3 conv, + a projection of the timestep (and class)
embedding, GroupNorm, SiLU, dropout, 3x3 conv, + a 1x1-conv shortcut when the width
changes. Attention: GroupNorm, one fused q/k/v projection, multi-head
``scaled_dot_product_attention`` over the H*W positions, an output projection, residual.
With the same ``channels``, ``layers_per_block`` and attention levels this network has
exactly the parameters of ``UNet2DModel(block_out_channels=channels, ...)``.

Speed on the CPU (see ``benchmarks/diffusion.py``): activations stay NCHW, where
GroupNorm is fastest; the attention's projections are 1x1 convolutions in channels-last
layout, run by oneDNN, where (B, C, H, W) is (B, H*W, C) in memory so that q, k and v
are views; additions onto convolution outputs are in place. Heads of 64 channels
(``head_dim``, as in Dhariwal & Nichol's ADM) make the attention 3-4x cheaper than
diffusers' default of 8 channels per head, at the same parameter count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.embeddings import TimestepMLP

__all__ = ["UNet", "UNetConfig"]


@dataclass
class UNetConfig:
    in_channels: int
    out_channels: int
    channels: tuple[int, ...] = (32, 64)        # width of each resolution level
    layers_per_block: int = 1
    attention_levels: tuple[int, ...] = (1,)    # levels (0 = full resolution) with self-attention
    head_dim: int = 64                          # channels per attention head (ADM: 64)
    norm_groups: int = 32                       # GroupNorm groups: gcd(norm_groups, width) per layer
    n_classes: int = 0                          # > 0: class embedding, index n_classes is the null class
    dropout: float = 0.0


def _norm(groups: int, ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, ch), ch, eps=1e-5)


class ResBlock(nn.Module):
    """(B, c_in, H, W), emb (B, E) -> (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, c_out)
        self.norm2 = _norm(groups, c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        # in-place adds on convolution outputs (which autograd does not keep): fewer large
        # allocations, and on the CPU fewer page faults
        h = self.conv1(F.silu(self.norm1(x)))
        h += self.emb_proj(emb)[:, :, None, None]        # emb is already SiLU-activated
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h.add_(self.skip(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions, with a residual: (B, C, H, W) -> same.

    The q/k/v and output projections are 1x1 convolutions: the same weights as linear
    layers, but run by oneDNN, which on CPUs is up to 2x faster than the BLAS behind
    ``nn.Linear`` for these shapes (see ``benchmarks/diffusion.py``).
    """

    def __init__(self, ch: int, head_dim: int, groups: int):
        super().__init__()
        self.n_head = max(1, ch // head_dim)
        if ch % self.n_head:
            raise ValueError(f"attention width {ch} does not split into {self.n_head} heads of head_dim={head_dim}.")
        self.norm = _norm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        N, nh = H * W, self.n_head
        # channels-last for the projections: (B, C, H, W) is then (B, N, C) in memory, so the
        # heads are views with contiguous head dimensions, as the attention kernel wants them
        h = self.norm(x).contiguous(memory_format=torch.channels_last)
        qkv = self.qkv(h).permute(0, 2, 3, 1).reshape(B, N, 3, nh, C // nh)   # a view: (B, N, 3, nh, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)                       # each (B, nh, N, hs)
        o = F.scaled_dot_product_attention(q, k, v)                          # (B, nh, N, hs)
        o = o.transpose(1, 2).reshape(B, H, W, C).permute(0, 3, 1, 2)       # (B, C, H, W), channels-last
        return x + self.proj(o)                                              # back to x's layout


class _Level(nn.Module):
    def __init__(self, blocks: list[ResBlock], attns: list[nn.Module], resample: nn.Module | None):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attns = nn.ModuleList(attns)
        self.resample = resample


class Downsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling, then a 3x3 convolution: (B, C, H, W) -> (B, C, 2H, 2W).

    Computed without the upsampled tensor (the same function and weights): output pixel
    (2i + a, 2j + b) sees only input rows {i - 1, i} (a = 0) or {i, i + 1} (a = 1), and
    likewise columns, so each of the four phases (a, b) is a 2x2 convolution of the input
    whose taps are sums of the 3x3 taps. One 2x2 convolution with 4C outputs on the padded
    input does all four: 16 multiply-adds per output pair of channels instead of 36.
    """

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def _phase_kernels(self) -> torch.Tensor:
        w = self.conv.weight                                             # (O, C, 3, 3)
        # along one axis, phase 0 reads (i - 1, i) with taps (w0, w1 + w2), phase 1 (i, i + 1) with (w0 + w1, w2)
        rows = torch.stack([torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),
                            torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2)])          # (2, O, C, 2, 3)
        k = torch.stack([torch.stack([rows[..., 0], rows[..., 1] + rows[..., 2]], -1),
                         torch.stack([rows[..., 0] + rows[..., 1], rows[..., 2]], -1)], 1)   # (2, 2, O, C, 2, 2)
        return k.reshape(-1, *w.shape[1:2], 2, 2)                        # (4 O, C, 2, 2), phases (a, b) major

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        O = self.conv.out_channels
        y = F.conv2d(F.pad(x, (1, 1, 1, 1)), self._phase_kernels(), self.conv.bias.repeat(4))
        y = y.view(B, 2, 2, O, H + 1, W + 1)                             # phase (a, b) starts at row a, column b
        out = torch.stack([torch.stack([y[:, a, b, :, a:a + H, b:b + W] for b in (0, 1)], -1)
                           for a in (0, 1)], 3)                          # (B, O, H, 2, W, 2)
        return out.reshape(B, O, 2 * H, 2 * W)


class UNet(nn.Module):
    """Noise-conditional UNet: ``forward(x (B, C, H, W), t (B,), y (B,) or None) -> (B, C_out, H, W)``.

    ``t`` are timesteps (int or float); ``y`` class indices in 0..n_classes, where
    ``n_classes`` is the null class of classifier-free guidance. H and W must be
    divisible by ``2 ** (len(channels) - 1)``.

    Examples
    --------
    >>> net = UNet(UNetConfig(1, 1, channels=(8, 16), norm_groups=8))
    >>> net(torch.zeros(2, 1, 8, 8), torch.tensor([3, 7])).shape
    torch.Size([2, 1, 8, 8])
    """

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        ch, L, g = list(cfg.channels), len(cfg.channels), cfg.norm_groups
        emb_dim = 4 * ch[0]
        self.time_embed = TimestepMLP(ch[0], emb_dim)
        self.class_embed = nn.Embedding(cfg.n_classes + 1, emb_dim) if cfg.n_classes else None
        self.conv_in = nn.Conv2d(cfg.in_channels, ch[0], 3, padding=1)

        def attn(c: int, level: int) -> nn.Module:
            return SelfAttention(c, cfg.head_dim, g) if level in cfg.attention_levels else nn.Identity()

        # down path; skip_ch lists the widths of the skips in the order they are stored
        self.down, skip_ch, prev = nn.ModuleList(), [ch[0]], ch[0]
        for i, c in enumerate(ch):
            blocks, attns = [], []
            for _ in range(cfg.layers_per_block):
                blocks.append(ResBlock(prev, c, emb_dim, g, cfg.dropout))
                attns.append(attn(c, i))
                prev = c
                skip_ch.append(c)
            down = Downsample(c) if i < L - 1 else None
            if down is not None:
                skip_ch.append(c)
            self.down.append(_Level(blocks, attns, down))
        self.mid = nn.ModuleList([ResBlock(prev, prev, emb_dim, g, cfg.dropout), SelfAttention(prev, cfg.head_dim, g),
                                  ResBlock(prev, prev, emb_dim, g, cfg.dropout)])
        # up path: each block eats one skip
        self.up = nn.ModuleList()
        for i in reversed(range(L)):
            c = ch[i]
            blocks, attns = [], []
            for _ in range(cfg.layers_per_block + 1):
                blocks.append(ResBlock(prev + skip_ch.pop(), c, emb_dim, g, cfg.dropout))
                attns.append(attn(c, i))
                prev = c
            self.up.append(_Level(blocks, attns, Upsample(c) if i > 0 else None))
        self.norm_out = _norm(g, ch[0])
        self.conv_out = nn.Conv2d(ch[0], cfg.out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        B = x.shape[0]
        if t.ndim == 0:
            t = t.expand(B)
        emb = self.time_embed(t)                                     # (B, E)
        if self.class_embed is not None:
            if y is None:
                y = torch.full((B,), self.cfg.n_classes, dtype=torch.long, device=x.device)
            emb = emb + self.class_embed(y)
        emb = F.silu(emb)                                           # every block reads SiLU(emb)
        # NCHW throughout: with few channels (conv_in's input) oneDNN may answer in
        # channels-last, where GroupNorm is slow (14 ms against 0.25 ms in bf16)
        h = self.conv_in(x).contiguous()
        skips = [h]
        for level in self.down:
            for block, att in zip(level.blocks, level.attns):
                h = att(block(h, emb))
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)
                skips.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for level in self.up:
            for block, att in zip(level.blocks, level.attns):
                h = att(block(torch.cat([h, skips.pop()], dim=1), emb))
            if level.resample is not None:
                h = level.resample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
