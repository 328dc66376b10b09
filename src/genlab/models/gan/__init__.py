"""Generative adversarial networks: losses, stabilisers, conditioning."""

from genlab.models.gan.estimator import GAN

__all__ = ["GAN"]
