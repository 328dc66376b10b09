"""The UNet's layers against slow, obvious code: the phase-decomposed upsampling against
nearest-neighbour upsampling then a convolution, the attention against softmax(QK^T)V
written out, the timestep embedding against its formula; and the parameter count of the
benchmark's configuration against diffusers' UNet2DModel (counted with diffusers 0.42.1)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genlab.nn.embeddings import timestep_embedding
from genlab.nn.unet import SelfAttention, UNet, UNetConfig, Upsample


def test_upsample_equals_nearest_then_conv():
    torch.manual_seed(0)
    up = Upsample(6).double()
    for shape in ((2, 6, 4, 4), (1, 6, 3, 5)):
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        ref = up.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        got = up(x)
        torch.testing.assert_close(got, ref)
        g = torch.randn_like(ref)
        ref_grads = torch.autograd.grad(ref, (x, up.conv.weight, up.conv.bias), g)
        got_grads = torch.autograd.grad(got, (x, up.conv.weight, up.conv.bias), g)
        for a, b in zip(got_grads, ref_grads):
            torch.testing.assert_close(a, b)


def test_attention_equals_the_formula():
    torch.manual_seed(0)
    for width, head_dim in ((16, 8), (16, 64)):
        attn = SelfAttention(width, head_dim, groups=4).double()
        x = torch.randn(3, width, 4, 5, dtype=torch.float64)
        B, C, H, W = x.shape
        nh, hs = attn.n_head, C // attn.n_head
        h = attn.norm(x).flatten(2).transpose(1, 2)                                 # (B, N, C)
        qkv = h @ attn.qkv.weight[:, :, 0, 0].T + attn.qkv.bias                     # (B, N, 3C)
        q, k, v = (t.reshape(B, H * W, nh, hs).transpose(1, 2) for t in qkv.split(C, -1))
        o = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs), -1) @ v         # (B, nh, N, hs)
        o = o.transpose(1, 2).reshape(B, H * W, C) @ attn.proj.weight[:, :, 0, 0].T + attn.proj.bias
        torch.testing.assert_close(attn(x), x + o.transpose(1, 2).reshape(B, C, H, W))


def test_timestep_embedding_formula():
    t = torch.tensor([0.0, 3.0, 999.0])
    emb = timestep_embedding(t, 6)
    freqs = torch.tensor([10000 ** (-k / 3) for k in range(3)])
    torch.testing.assert_close(emb, torch.cat([torch.cos(t[:, None] * freqs), torch.sin(t[:, None] * freqs)], 1))


def test_benchmark_unet_has_diffusers_parameter_count():
    # diffusers.UNet2DModel(block_out_channels=(32, 64), layers_per_block=1, down_block_types=("DownBlock2D",
    # "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"), in/out_channels=1): 701,345 parameters
    net = UNet(UNetConfig(1, 1, channels=(32, 64), layers_per_block=1, attention_levels=(1,)))
    assert sum(p.numel() for p in net.parameters()) == 701_345
    assert net(torch.zeros(2, 1, 16, 16), torch.tensor([0, 999])).shape == (2, 1, 16, 16)
    cond = UNet(UNetConfig(3, 3, channels=(8, 16, 16), layers_per_block=2, attention_levels=(1, 2), n_classes=4))
    assert cond(torch.zeros(2, 3, 12, 12), torch.tensor([0, 5]), torch.tensor([4, 1])).shape == (2, 3, 12, 12)
