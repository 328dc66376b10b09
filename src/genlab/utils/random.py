"""Seeds and random generators.

genlab never seeds torch globally. Every function that draws random numbers takes
``seed``: ``None`` (fresh, non-reproducible entropy), an ``int`` or a
``torch.Generator`` (used as is and advanced, as diffusers passes ``generator``).
"""

from __future__ import annotations

import secrets

import torch

from genlab.exceptions import InvalidParameterError

__all__ = ["SeedLike", "as_generator", "as_numpy_generator", "spawn_seed"]

SeedLike = int | torch.Generator | None


def as_generator(seed: SeedLike, device: str | torch.device = "cpu") -> torch.Generator:
    """Turn ``seed`` into a ``torch.Generator``.

    Parameters
    ----------
    seed : int, torch.Generator or None
        ``int`` gives a new generator seeded with it (the same int gives the same
        draws); a ``Generator`` is returned unchanged; ``None`` draws a seed from
        the operating system.
    device : str or torch.device
        Device of a newly created generator.

    Examples
    --------
    >>> g = as_generator(0)
    >>> torch.rand(2, generator=g).shape
    torch.Size([2])
    """
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        seed = secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidParameterError(
            f"seed must be an int, a torch.Generator or None; got {seed!r} ({type(seed).__name__})."
        )
    if seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative int; got {seed}.")
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def spawn_seed(generator: torch.Generator) -> int:
    """Draw a new 63-bit seed from ``generator`` (to derive independent streams)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


def as_numpy_generator(seed: SeedLike):
    """A ``numpy.random.Generator`` for code that samples with numpy, from the same ``seed``
    forms as :func:`as_generator` (a torch Generator is advanced by one draw)."""
    import numpy as np

    return np.random.default_rng(spawn_seed(as_generator(seed)))
