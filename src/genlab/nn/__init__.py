"""Layers shared by two or more families."""

from genlab.nn.attention import KVCache, MultiHeadAttention, TransformerBlock, sinusoidal_positions
from genlab.nn.mlp import MLP

__all__ = ["MLP", "KVCache", "MultiHeadAttention", "TransformerBlock", "sinusoidal_positions"]
