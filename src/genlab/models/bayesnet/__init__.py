"""Discrete Bayesian networks: structure learning, CPTs, exact and approximate inference, BIF."""

from genlab.models.bayesnet.bif import read_bif, write_bif
from genlab.models.bayesnet.estimator import BayesianNetwork
from genlab.models.bayesnet.network import DiscreteBN

__all__ = ["BayesianNetwork", "DiscreteBN", "read_bif", "write_bif"]
