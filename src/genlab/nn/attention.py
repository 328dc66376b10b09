"""Multi-head attention and the pre-norm transformer block, with a key/value cache.

Shared by the GPT (causal self-attention) and the encoder-decoder translator
(bidirectional self-attention, causal self-attention plus cross-attention).
Attention runs through ``torch.nn.functional.scaled_dot_product_attention``, which
picks a fused kernel where the device has one.

Shapes: B batch, T query positions, S key positions, C = n_embd, nh heads,
hs = C // nh.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

__all__ = ["KVCache", "MultiHeadAttention", "TransformerBlock", "sinusoidal_positions"]


class KVCache:
    """Keys and values of the positions seen so far, for one attention layer.

    Buffers of shape (B, nh, max_len, hs) are filled from position 0; ``length``
    positions are valid. ``append`` adds T new positions and returns the keys and
    values of all valid positions, (B, nh, length, hs). ``reorder(index)`` keeps the
    rows ``index`` (B',) of the batch: beam search uses it when beams are re-ranked.
    """

    def __init__(self, batch: int, n_heads: int, max_len: int, head_dim: int, *,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None):
        self.k = torch.empty(batch, n_heads, max_len, head_dim, dtype=dtype, device=device)
        self.v = torch.empty_like(self.k)
        self.length = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = k.shape[2]
        if self.length + t > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; {self.length} + {t} do not fit.")
        self.k[:, :, self.length:self.length + t] = k
        self.v[:, :, self.length:self.length + t] = v
        self.length += t
        return self.k[:, :, :self.length], self.v[:, :, :self.length]

    def reorder(self, index: torch.Tensor) -> None:
        self.k = self.k.index_select(0, index)
        self.v = self.v.index_select(0, index)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention.

    Parameters
    ----------
    n_embd : int
        Model width C (queries, keys and values all have width C).
    n_head : int
        Number of heads nh (must divide C).
    dropout : float
        Dropout on the attention weights and on the output (training only).
    bias : bool
        Biases in the projections.
    cross : bool
        Cross-attention: queries from ``x``, keys and values from ``context``.
        Otherwise self-attention with one fused q/k/v projection.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True, cross: bool = False):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} must be a multiple of n_head={n_head}.")
        self.n_head, self.cross, self.dropout = n_head, cross, dropout
        if cross:
            self.q_proj = nn.Linear(n_embd, n_embd, bias=bias)
            self.kv_proj = nn.Linear(n_embd, 2 * n_embd, bias=bias)
        else:
            self.qkv_proj = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.out_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.out_drop = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)   # (B, nh, T, hs)

    def project_context(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of a cross-attention context (B, S, C) -> 2 x (B, nh, S, hs).

        The decoder computes them once per source and reuses them at every step.
        """
        k, v = self.kv_proj(context).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def forward(self, x: torch.Tensor, *, causal: bool = False, mask: torch.Tensor | None = None,
                cache: KVCache | None = None, context: torch.Tensor | None = None,
                context_kv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Attend from ``x`` (B, T, C); returns (B, T, C).

        Parameters
        ----------
        causal : bool
            Position t attends only to positions <= t (self-attention). With a
            ``cache`` holding P earlier positions, query t is position P + t.
        mask : Tensor, optional
            Boolean (B, 1, 1, S) or broadcastable: True where a key may be attended
            (padding masks). Combined with ``causal``.
        cache : KVCache, optional
            Self-attention only: append this call's keys/values and attend to all.
        context, context_kv
            Cross-attention only: the source (B, S, C), or its precomputed keys
            and values from :meth:`project_context`.
        """
        B, T, C = x.shape
        if self.cross:
            q = self._heads(self.q_proj(x))
            k, v = context_kv if context_kv is not None else self.project_context(context)
            past = 0
        else:
            q, k, v = (self._heads(t) for t in self.qkv_proj(x).split(C, dim=2))   # 3 x (B, nh, T, hs)
            past = 0
            if cache is not None:
                past = cache.length
                k, v = cache.append(k, v)
        S = k.shape[2]
        attn_mask, is_causal = mask, False
        if causal:
            if past == 0 and mask is None and T == S:
                is_causal = True                      # the fused kernel's own causal mask
            elif T > 1 or mask is not None:           # one query at the end attends to everything
                allowed = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=past)
                attn_mask = allowed if mask is None else (mask & allowed)
        dropout_p = self.dropout if self.training else 0.0
        if x.device.type == "cpu" and torch.is_grad_enabled() and q.dtype == torch.bfloat16:
            # in bf16 the CPU flash kernel's backward is several times slower than plain matmuls at these
            # sizes (4 layers, 12 x 64 tokens, 1 thread: 101 vs 76 ms per forward + backward), so bf16
            # training uses the math kernel; fp32 keeps the fused one (126 vs 136 ms)
            with sdpa_kernel(SDPBackend.MATH):
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                                   dropout_p=dropout_p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                               dropout_p=dropout_p)   # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.out_drop(self.out_proj(y))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (GPT-2): x + SelfAttn(LN(x)) [+ CrossAttn(LN(x), ctx)] + MLP(LN(x)).

    The MLP is C -> 4C -> C with GELU (tanh approximation, as GPT-2).
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True, cross: bool = False):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = MultiHeadAttention(n_embd, n_head, dropout, bias)
        self.cross_attn = None
        if cross:
            self.ln_cross = nn.LayerNorm(n_embd, bias=bias)
            self.cross_attn = MultiHeadAttention(n_embd, n_head, dropout, bias, cross=True)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.mlp_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, *, causal: bool = False, mask: torch.Tensor | None = None,
                cache: KVCache | None = None, context: torch.Tensor | None = None,
                context_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, C) -> (B, T, C). ``context_mask`` (B, 1, 1, S): True on real source tokens."""
        x = x + self.attn(self.ln_1(x), causal=causal, mask=mask, cache=cache)
        if self.cross_attn is not None:
            x = x + self.cross_attn(self.ln_cross(x), mask=context_mask, context=context, context_kv=context_kv)
        return x + self.mlp_drop(self.proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh")))


def sinusoidal_positions(n_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Fixed sinusoidal embeddings (Vaswani et al. 2017), (n_positions, dim)."""
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(base) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    out = torch.zeros(n_positions, dim)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out
