"""Hidden Markov models: exact inference and Baum-Welch EM, batched over sequences."""

from genlab.models.hmm.estimator import CategoricalHMM, ConvergenceWarning
from genlab.models.hmm.gaussian import GMMHMM, GaussianHMM
from genlab.models.hmm.model import HMM

__all__ = ["GMMHMM", "HMM", "CategoricalHMM", "ConvergenceWarning", "GaussianHMM"]
