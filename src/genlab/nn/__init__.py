"""Layers shared by two or more families."""

from genlab.nn.mlp import MLP

__all__ = ["MLP"]
