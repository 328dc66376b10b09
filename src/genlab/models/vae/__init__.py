"""Variational autoencoders: ``genlab.models.VAE``."""

from genlab.models.vae.estimator import VAE

__all__ = ["VAE"]
