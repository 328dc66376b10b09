"""Multi-layer perceptron: Linear -> activation, repeated, then a final Linear."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP"]


class MLP(nn.Sequential):
    """``in_dim -> hidden[0] -> ... -> hidden[-1] -> out_dim`` with ReLU between layers.

    Input (B, in_dim), output (B, out_dim). With ``out_dim=None`` the last hidden
    layer (after its activation) is the output.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int | None, activation: type[nn.Module] = nn.ReLU):
        layers: list[nn.Module] = []
        prev = in_dim
        for width in hidden:
            layers += [nn.Linear(prev, width), activation()]
            prev = width
        if out_dim is not None:
            layers.append(nn.Linear(prev, out_dim))
        super().__init__(*layers)
        self.out_features = out_dim if out_dim is not None else prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)
