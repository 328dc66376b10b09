"""Denoising diffusion models: schedules, denoisers, samplers and the variational bound."""

from genlab.models.diffusion.estimator import Diffusion

__all__ = ["Diffusion"]
