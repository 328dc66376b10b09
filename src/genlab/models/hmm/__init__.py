"""Hidden Markov models: exact inference and Baum-Welch EM, batched over sequences."""

from genlab.models.hmm.estimator import CategoricalHMM, ConvergenceWarning
from genlab.models.hmm.gaussian import GMMHMM, GaussianHMM

__all__ = ["GMMHMM", "CategoricalHMM", "ConvergenceWarning", "GaussianHMM"]
