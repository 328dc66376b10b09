"""The GPT network (decoder-only transformer, GPT-2 layout as in nanoGPT) and token windows.

Shapes: B batch, T positions, C = n_embd, V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.attention import KVCache, TransformerBlock

__all__ = ["GPTConfig", "GPTNetwork", "TokenWindows"]

IGNORE = -1   # target id of padding: no loss


@dataclass
class GPTConfig:
    vocab_size: int
    context_length: int
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    n_outputs: int | None = None   # tokens that can be predicted (ids >= n_outputs are start tokens); None: all


class GPTNetwork(nn.Module):
    """Token + learned position embeddings, ``n_layer`` pre-norm blocks, final LayerNorm,
    and a language-model head tied to the token embedding (over the first ``n_outputs`` ids).

    ``forward(tokens, generator=None)`` is the training loss: ``tokens`` (B, T + 1) int64,
    inputs ``tokens[:, :-1]`` and targets ``tokens[:, 1:]``; targets equal to -1 (padding)
    are ignored. Returns the mean cross-entropy in nats per predicted token.
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.context_length, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(cfg.n_embd, cfg.n_head, cfg.dropout, cfg.bias) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight          # weight tying (Press & Wolf 2017)
        self.apply(self._init_weights)
        for block in self.blocks:                      # GPT-2: residual projections scaled by 1/sqrt(2 L)
            for proj in (block.attn.out_proj, block.proj):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def optimizer_groups(self) -> list[dict]:
        """AdamW groups for the trainer: nanoGPT's betas (0.9, 0.99); weight decay on matrices and
        embeddings, none on biases and LayerNorm gains."""
        params = list(self.parameters())
        return [{"params": [p for p in params if p.ndim >= 2], "betas": (0.9, 0.99)},
                {"params": [p for p in params if p.ndim < 2], "betas": (0.9, 0.99), "weight_decay": 0.0}]

    def num_parameters(self) -> int:
        """Trainable parameters, the tied head counted once."""
        return sum(p.numel() for p in self.parameters())

    def hidden(self, idx: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """Final hidden states (B, T, C) of tokens ``idx`` (B, T).

        With ``caches`` (one per layer) holding P positions, ``idx`` are positions P..P+T-1.
        """
        _B, T = idx.shape
        start = caches[0].length if caches else 0
        if start + T > self.cfg.context_length:
            raise ValueError(f"{start + T} positions exceed the context length {self.cfg.context_length}.")
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))       # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, cache=caches[i] if caches else None)
        return self.ln_f(x)

    def logits(self, idx: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """Next-token logits (B, T, V_out) at every position of ``idx`` (B, T).

        Only the first ``n_outputs`` ids can follow a position (start tokens never do), so
        the softmax runs over those: the model's probabilities over the outputs sum to 1.
        """
        h = self.hidden(idx, caches)
        n_out = self.cfg.n_outputs
        if n_out is None or n_out == self.cfg.vocab_size:
            return self.lm_head(h)
        return F.linear(h, self.lm_head.weight[:n_out])

    def new_caches(self, batch: int, *, dtype: torch.dtype = torch.float32) -> list[KVCache]:
        cfg = self.cfg
        device = self.wte.weight.device
        return [KVCache(batch, cfg.n_head, cfg.context_length, cfg.n_embd // cfg.n_head, dtype=dtype, device=device)
                for _ in range(cfg.n_layer)]

    def forward(self, tokens: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        inputs, targets = tokens[:, :-1].clamp_min(0), tokens[:, 1:]
        logits = self.logits(inputs)                                   # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                               ignore_index=IGNORE)

    @torch.no_grad()
    def token_log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """log p(tokens[:, t] | tokens[:, :t]) for t = 1..T-1, (B, T - 1); 0 where the target is -1."""
        inputs, targets = tokens[:, :-1].clamp_min(0), tokens[:, 1:]
        logp = torch.log_softmax(self.logits(inputs).float(), dim=-1)   # (B, T-1, V)
        out = logp.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        return out.masked_fill(targets == IGNORE, 0.0)


class TokenWindows:
    """All windows of ``length`` consecutive tokens of one stream, as a lazily indexed dataset.

    ``len`` is ``T - length + 1`` (every start position); indexing with a tensor of
    starts returns (B, length) int64. The trainer's random permutation of starts
    then draws windows at random offsets without replacement, as nanoGPT's
    ``get_batch`` draws them with replacement, without materialising T x length ids.
    """

    def __init__(self, stream: torch.Tensor, length: int):
        if stream.ndim != 1:
            raise ValueError("TokenWindows takes one stream of token ids (T,).")
        if len(stream) < length:
            raise ValueError(f"the stream has {len(stream)} tokens, fewer than one window of {length}.")
        self.stream, self.length = stream.long(), length
        self._offsets = torch.arange(length)

    def __len__(self) -> int:
        return len(self.stream) - self.length + 1

    def __getitem__(self, idx: torch.Tensor | slice) -> torch.Tensor:
        if isinstance(idx, slice):
            idx = torch.arange(len(self))[idx]
        return self.stream[torch.as_tensor(idx).reshape(-1, 1) + self._offsets]   # (B, length)

    def to(self, device: torch.device | str) -> TokenWindows:
        return TokenWindows(self.stream.to(device), self.length)
