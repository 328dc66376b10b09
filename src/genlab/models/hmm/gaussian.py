"""HMMs with Gaussian and Gaussian-mixture emissions on (T_i, D) float sequences.

One set of Gaussian helpers serves both: a state of :class:`GaussianHMM` is one
Gaussian, a state of :class:`GMMHMM` is ``n_mix`` Gaussians, and either way the
components are a (C, D) mean table and a covariance table whose layout depends on
``covariance_type``:

==============  ===================  ============================================
type            covariance shape     meaning
==============  ===================  ============================================
``"diag"``      (C, D)               one variance per component and feature
``"spherical"`` (C,)                 one variance per component, all features
``"full"``      (C, D, D)            a full covariance matrix per component
==============  ===================  ============================================

The M-step reads sufficient statistics (sums of weights, weighted sums of x and of
x x^T) taken around a fixed shift (the mean of the initialisation data), which keeps
the "E[x^2] - E[x]^2" form of the variance accurate when the data sit far from 0.
The variance floor ``min_covar`` is applied by clipping eigenvalues (the variances for
"diag" and "spherical"): that is the exact maximiser of the likelihood under the
constraint "every eigenvalue >= min_covar", so EM still never decreases the
log-likelihood, where adding ``min_covar`` (hmmlearn's rule) would not.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.hmm.estimator import (
    _COMMON_CONSTRAINTS,
    _COMMON_DOC,
    _DTYPE,
    _BaseHMM,
    _normalize_rows,
)
from genlab.utils.validation import Interval, Options, check_finite

__all__ = ["GMMHMM", "GaussianHMM"]

COVARIANCE_TYPES = ("diag", "spherical", "full")


# ----------------------------------------------------------------------------- Gaussian helpers

def gaussian_log_density(x: torch.Tensor, means: torch.Tensor, covars: torch.Tensor,
                         covariance_type: str) -> torch.Tensor:
    """log N(x_n; mean_c, cov_c) for every step and component: (N, D), (C, D), covars -> (N, C) nats."""
    N, D = x.shape
    if covariance_type in ("diag", "spherical"):
        var = covars if covariance_type == "diag" else covars[:, None].expand(-1, D)      # (C, D)
        prec = 1.0 / var
        # -0.5 [sum_d (x_d - mu_d)^2 / var_d + log det + D log 2 pi] as one matmul:
        # [x^2, x, 1] (N, 2D+1) @ [-prec/2; mu prec; const] (2D+1, C)
        const = -0.5 * (D * math.log(2 * math.pi) + var.log().sum(1) + (means * means * prec).sum(1))
        W = torch.cat([-0.5 * prec.T, (means * prec).T, const[None, :]], 0)
        return torch.cat([x * x, x, x.new_ones(N, 1)], 1) @ W
    chol = torch.linalg.cholesky(covars)                                                  # (C, D, D)
    diff = (x[None, :, :] - means[:, None, :]).transpose(1, 2)                            # (C, D, N)
    y = torch.linalg.solve_triangular(chol, diff, upper=False)                            # (C, D, N)
    log_det = 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)                         # (C,)
    return -0.5 * (D * math.log(2 * math.pi) + log_det[None, :] + (y * y).sum(1).T)


def _new_moments(C: int, D: int, covariance_type: str) -> dict[str, torch.Tensor]:
    second = (C, D, D) if covariance_type == "full" else (C, D)
    return {"w": torch.zeros(C, dtype=_DTYPE), "sx": torch.zeros(C, D, dtype=_DTYPE),
            "sxx": torch.zeros(second, dtype=_DTYPE)}


def _add_moments(m: dict[str, torch.Tensor], xc: torch.Tensor, resp: torch.Tensor, covariance_type: str) -> None:
    """Add sum_n r_nc, sum_n r_nc x_n and sum_n r_nc x_n x_n^T (or its diagonal); xc is shifted x."""
    m["w"] += resp.sum(0)
    m["sx"] += resp.T @ xc
    if covariance_type == "full":
        m["sxx"] += torch.einsum("nc,nd,ne->cde", resp, xc, xc)
    else:
        m["sxx"] += resp.T @ (xc * xc)


def _m_step_gaussian(m: dict[str, torch.Tensor], shift: torch.Tensor, old_means: torch.Tensor,
                     old_covars: torch.Tensor, covariance_type: str, min_covar: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-likelihood means and floored covariances; components with no weight keep their old values."""
    w = m["w"]
    used = w > 0
    ws = torch.where(used, w, torch.ones_like(w))
    mu_c = m["sx"] / ws[:, None]                                                          # (C, D), shifted
    if covariance_type == "full":
        S = m["sxx"] / ws[:, None, None] - mu_c[:, :, None] * mu_c[:, None, :]
        S = 0.5 * (S + S.transpose(1, 2))
        evals, evecs = torch.linalg.eigh(S)
        covars = (evecs * evals.clamp_min(min_covar)[:, None, :]) @ evecs.transpose(1, 2)
        covars = 0.5 * (covars + covars.transpose(1, 2))
        covars = torch.where(used[:, None, None], covars, old_covars)
    else:
        var = m["sxx"] / ws[:, None] - mu_c * mu_c                                        # (C, D)
        if covariance_type == "spherical":
            var = var.mean(1)
            covars = torch.where(used, var.clamp_min(min_covar), old_covars)
        else:
            covars = torch.where(used[:, None], var.clamp_min(min_covar), old_covars)
    means = torch.where(used[:, None], mu_c + shift, old_means)
    return means, covars


def _initial_covars(x: torch.Tensor, C: int, covariance_type: str, min_covar: float) -> torch.Tensor:
    """The data's covariance (floored) for every component."""
    D = x.shape[1]
    if covariance_type == "full":
        cov = torch.cov(x.T).reshape(D, D) if len(x) > 1 else torch.eye(D, dtype=_DTYPE)
        evals, evecs = torch.linalg.eigh(0.5 * (cov + cov.T))
        cov = (evecs * evals.clamp_min(min_covar)) @ evecs.T
        return cov.expand(C, D, D).clone()
    var = x.var(0, unbiased=False).clamp_min(min_covar)                                  # (D,)
    if covariance_type == "spherical":
        return var.mean().expand(C).clone()
    return var.expand(C, D).clone()


def _sample_gaussian(means: torch.Tensor, covars: torch.Tensor, covariance_type: str,
                     gen: torch.Generator) -> torch.Tensor:
    """One draw per row: means (N, D), covars (N, ...) -> (N, D)."""
    z = torch.randn(means.shape, generator=gen, dtype=_DTYPE)
    if covariance_type == "full":
        return means + (torch.linalg.cholesky(covars) @ z[..., None]).squeeze(-1)
    std = covars.sqrt() if covariance_type == "diag" else covars.sqrt()[:, None]
    return means + std * z


def _kmeans(x: torch.Tensor, K: int, gen: torch.Generator, n_iter: int = 10, max_rows: int = 100_000) -> torch.Tensor:
    """K centres (K, D) by Lloyd's algorithm from K distinct random rows; empty clusters stay put.

    On more than ``max_rows`` observations it runs on a seeded random subset of that many
    (an initialisation needs no more; EM refines it on all the data).
    """
    if len(x) > max_rows:
        x = x[torch.randperm(len(x), generator=gen)[:max_rows]]
    centers = x[torch.randperm(len(x), generator=gen)[:K]].clone()                        # (K, D)
    for _ in range(n_iter):
        labels = torch.cdist(x, centers).argmin(1)                                        # (N,)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=K).to(x.dtype)[:, None]                 # (K, 1)
        centers = torch.where(counts > 0, sums / counts.clamp_min(1), centers)
    return centers


# ----------------------------------------------------------------------------- shared by both classes

class _GaussianBase(_BaseHMM):
    _seq_ndim = 2
    _shape_doc = "(T_i, D) of floats"
    _n_components_per_state = 1

    def likelihood_units(self) -> str:
        """``"density"``: ``log_prob`` is a log density of continuous sequences."""
        return "density"

    def _check_values(self, s: torch.Tensor, what: str, fitting: bool) -> torch.Tensor:
        s = s.to(_DTYPE)
        check_finite(s, what)
        if not fitting and s.shape[1] != self.means_.shape[-1]:
            raise DataError(f"{what} has {s.shape[1]} features; the model was trained on D={self.means_.shape[-1]}.")
        return s

    def _init_data(self, seqs: list[torch.Tensor]) -> torch.Tensor:
        dims = sorted({s.shape[1] for s in seqs})
        if len(dims) > 1:
            raise DataError(f"all sequences must have the same number of features D; got {dims}.")
        x = torch.cat(seqs)                                                               # (N, D)
        C = self.n_states * self._n_components_per_state
        if len(x) < C:
            raise DataError(f"{type(self).__name__} needs at least {C} observations to initialise "
                            f"(one per Gaussian component); got {len(x)}.")
        self._shift = x.mean(0)
        return x

    def _component_means(self, x: torch.Tensor, C: int, gen: torch.Generator) -> torch.Tensor:
        if self.init == "kmeans":
            return _kmeans(x, C, gen)
        return x[torch.randperm(len(x), generator=gen)[:C]].clone()

    def _get_state(self):
        tensors, state = super()._get_state()
        tensors["shift"] = self._shift_of(self._params()).contiguous()
        return tensors, state

    def _set_state(self, tensors, state):
        super()._set_state(tensors, state)
        self._shift = tensors["shift"].to(_DTYPE) if "shift" in tensors else None

    def _check_emission(self, params):
        covars = params["covars"]
        if not bool(torch.isfinite(params["means"]).all()):
            raise InvalidParameterError("means_init must be finite.")
        if self.covariance_type == "full":
            D = params["means"].shape[-1]
            C = covars.reshape(-1, D, D)
            ok = bool(torch.allclose(C, C.transpose(-1, -2))) and bool((torch.linalg.eigvalsh(C) > 0).all())
        else:
            ok = bool((covars > 0).all())
        if not ok:
            raise InvalidParameterError(f"covars_init must be positive ({self.covariance_type} layout: "
                                        "variances > 0, or symmetric positive-definite matrices).")
        if "weights" in params:
            w = params["weights"]
            if (w < 0).any() or not torch.allclose(w.sum(-1), torch.ones(len(w), dtype=w.dtype), atol=1e-6):
                raise InvalidParameterError("weights_init must be non-negative with rows summing to 1.")

    def _shift_of(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        shift = getattr(self, "_shift", None)
        D = params["means"].shape[-1]
        return shift if shift is not None and shift.shape == (D,) else params["means"].reshape(-1, D).mean(0)


# ----------------------------------------------------------------------------- GaussianHMM

class GaussianHMM(_GaussianBase):
    """HMM with one Gaussian per state on (T_i, D) float sequences.

    Parameters
    ----------
    n_states : int, default 4
        Number of hidden states K.
    covariance_type : {"diag", "spherical", "full"}, default "diag"
        Covariance of each state's Gaussian (see the module docstring).
    min_covar : float, default 1e-3
        Floor on every variance (eigenvalue for "full"), applied by clipping: the exact
        constrained maximiser, so EM still never decreases the log-likelihood.
    init : {"kmeans", "random"}, default "kmeans"
        Means from 10 seeded Lloyd iterations of k-means (or K random observations);
        covariances from the data; uniform start and transition probabilities
        (Dirichlet draws with ``"random"``).
    random_state : int or None, default 0
        Seed of the initialisation.
    means_init, covars_init : array-like or None
        Initial means (K, D) and covariances (in the ``covariance_type`` layout) instead of
        the ``init`` rule.
""" + _COMMON_DOC + """
    Attributes
    ----------
    startprob_ : Tensor (K,)
    transmat_ : Tensor (K, K)
    means_ : Tensor (K, D)
    covars_ : Tensor (K, D), (K,) or (K, D, D)
        As ``covariance_type`` says.
    n_iter_, lower_bound_, converged_, history_
        As :class:`~genlab.models.hmm.CategoricalHMM`.

    Examples
    --------
    >>> x = torch.cat([torch.zeros(20, 1), torch.ones(20, 1)]) + 0.1 * torch.sin(torch.arange(40.0))[:, None]
    >>> hmm = GaussianHMM(n_states=2).fit(x, lengths=[25, 15])
    >>> hmm.predict(x[:3])[0].shape
    torch.Size([3])
    """

    name = "gaussian_hmm"
    _emission_keys = ("means", "covars")
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **_COMMON_CONSTRAINTS,
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "min_covar": [Interval(float, 0, None, closed="neither")],
        "init": [Options("kmeans", "random")],
    }

    def __init__(self, n_states: int = 4, covariance_type: str = "diag", max_iter: int = 100, tol: float | None = 1e-4,
                 min_covar: float = 1e-3, init: str = "kmeans", random_state: int | None = 0, n_init: int = 1,
                 startprob_init: Any = None, transmat_init: Any = None, means_init: Any = None,
                 covars_init: Any = None, chunk_size: int | None = None, backend: str = "auto"):
        self.n_states = n_states
        self.means_init = means_init
        self.covars_init = covars_init
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.min_covar = min_covar
        self.init = init
        self.random_state = random_state
        self.n_init = n_init
        self.startprob_init = startprob_init
        self.transmat_init = transmat_init
        self.chunk_size = chunk_size
        self.backend = backend

    def _init_emission(self, seqs, gen, shapes_only=False):
        x = self._init_data(seqs)
        K = self.n_states
        if shapes_only:
            D = x.shape[1]
            return {"means": x.new_zeros(K, D), "covars": _initial_covars(x[:2], K, self.covariance_type, 1.0)}
        return {"means": self._component_means(x, K, gen),
                "covars": _initial_covars(x, K, self.covariance_type, self.min_covar)}

    def _log_emit_flat(self, params, x):
        shift = self._shift_of(params)
        return gaussian_log_density(x - shift, params["means"] - shift, params["covars"], self.covariance_type)

    def _new_stats(self, params):
        return _new_moments(self.n_states, params["means"].shape[1], self.covariance_type)

    def _accumulate(self, stats, params, x, gamma):
        _add_moments(stats, x - self._shift_of(params), gamma, self.covariance_type)

    def _m_step_emission(self, stats, params):
        means, covars = _m_step_gaussian(stats, self._shift_of(params), params["means"], params["covars"],
                                         self.covariance_type, float(self.min_covar))
        return {"means": means, "covars": covars}

    def _sample_emission(self, params, states, gen):
        return _sample_gaussian(params["means"][states], params["covars"][states], self.covariance_type, gen)


# ----------------------------------------------------------------------------- GMMHMM

class GMMHMM(_GaussianBase):
    """HMM whose every state emits from its own mixture of ``n_mix`` Gaussians.

    Parameters
    ----------
    n_states : int, default 4
        Number of hidden states K.
    n_mix : int, default 2
        Gaussian components per state M.
    covariance_type : {"diag", "spherical", "full"}, default "diag"
        Covariance of each component (see the module docstring).
    min_covar : float, default 1e-3
        Floor on every variance (eigenvalue for "full"), applied by clipping.
    weight_pseudocount : float, default 0.0
        Added to each component's expected count before normalising the mixture weights
        (a Dirichlet prior); 0 is maximum likelihood.
    init : {"kmeans", "random"}, default "kmeans"
        Component means from k-means with K M centres (or K M random observations),
        dealt out to the states in turn; uniform weights; covariances from the data.
    random_state : int or None, default 0
        Seed of the initialisation.
    weights_init, means_init, covars_init : array-like or None
        Initial mixture weights (K, M), means (K, M, D) and covariances instead of the
        ``init`` rule.
""" + _COMMON_DOC + """
    Attributes
    ----------
    startprob_ : Tensor (K,)
    transmat_ : Tensor (K, K)
    weights_ : Tensor (K, M)
        Mixture weights of each state, rows summing to 1.
    means_ : Tensor (K, M, D)
    covars_ : Tensor (K, M, D), (K, M) or (K, M, D, D)
    n_iter_, lower_bound_, converged_, history_
        As :class:`~genlab.models.hmm.CategoricalHMM`.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 2, generator=g, dtype=torch.float64)
    >>> hmm = GMMHMM(n_states=2, n_mix=2).fit(x, lengths=[100, 100])
    >>> tuple(hmm.means_.shape), hmm.log_prob(x[:10]).shape
    ((2, 2, 2), torch.Size([1]))
    """

    name = "gmm_hmm"
    _emission_keys = ("weights", "means", "covars")
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **_COMMON_CONSTRAINTS,
        "n_mix": [Interval(int, 1, None)],
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "min_covar": [Interval(float, 0, None, closed="neither")],
        "weight_pseudocount": [Interval(float, 0, None)],
        "init": [Options("kmeans", "random")],
    }

    def __init__(self, n_states: int = 4, n_mix: int = 2, covariance_type: str = "diag", max_iter: int = 100,
                 tol: float | None = 1e-4, min_covar: float = 1e-3, weight_pseudocount: float = 0.0,
                 init: str = "kmeans", random_state: int | None = 0, n_init: int = 1, startprob_init: Any = None,
                 transmat_init: Any = None, weights_init: Any = None, means_init: Any = None,
                 covars_init: Any = None, chunk_size: int | None = None, backend: str = "auto"):
        self.n_states = n_states
        self.weights_init = weights_init
        self.means_init = means_init
        self.covars_init = covars_init
        self.n_mix = n_mix
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.min_covar = min_covar
        self.weight_pseudocount = weight_pseudocount
        self.init = init
        self.random_state = random_state
        self.n_init = n_init
        self.startprob_init = startprob_init
        self.transmat_init = transmat_init
        self.chunk_size = chunk_size
        self.backend = backend

    @property
    def _n_components_per_state(self) -> int:
        return self.n_mix

    def _flat_params(self, params):
        K, M, D = params["means"].shape
        return params["means"].reshape(K * M, D), params["covars"].reshape(K * M, *params["covars"].shape[2:])

    def _component_log_joint(self, params, x):
        """log w_km + log N(x_n; mu_km, cov_km): (N, K, M)."""
        K, M, _D = params["means"].shape
        means, covars = self._flat_params(params)
        shift = self._shift_of(params)
        comp = gaussian_log_density(x - shift, means - shift, covars, self.covariance_type)   # (N, K M)
        return comp.view(-1, K, M) + params["weights"].log()

    def _init_emission(self, seqs, gen, shapes_only=False):
        x = self._init_data(seqs)
        K, M = self.n_states, self.n_mix
        means = (x.new_zeros(K * M, x.shape[1]) if shapes_only else self._component_means(x, K * M, gen))
        means = means.reshape(M, K, -1).transpose(0, 1).contiguous()
        covars = _initial_covars(x, K * M, self.covariance_type, self.min_covar)
        return {"weights": torch.full((K, M), 1.0 / M, dtype=_DTYPE), "means": means,
                "covars": covars.reshape(K, M, *covars.shape[1:])}

    def _log_emit_flat(self, params, x):
        return torch.logsumexp(self._component_log_joint(params, x), -1)                 # (N, K)

    def _new_stats(self, params):
        K, M, D = params["means"].shape
        return _new_moments(K * M, D, self.covariance_type)

    def _accumulate(self, stats, params, x, gamma):
        # responsibility of component m of state k: gamma_k * p(m | x, z = k)
        resp = gamma[:, :, None] * torch.softmax(self._component_log_joint(params, x), -1)   # (N, K, M)
        _add_moments(stats, x - self._shift_of(params), resp.reshape(len(x), -1), self.covariance_type)

    def _m_step_emission(self, stats, params):
        K, M, D = params["means"].shape
        means, covars = self._flat_params(params)
        means, covars = _m_step_gaussian(stats, self._shift_of(params), means, covars,
                                         self.covariance_type, float(self.min_covar))
        weights = _normalize_rows(stats["w"].view(K, M), float(self.weight_pseudocount), params["weights"])
        return {"weights": weights, "means": means.view(K, M, D),
                "covars": covars.view(K, M, *covars.shape[1:])}

    def _sample_emission(self, params, states, gen):
        comp = torch.multinomial(params["weights"][states], 1, generator=gen).squeeze(1)     # (N,)
        return _sample_gaussian(params["means"][states, comp], params["covars"][states, comp],
                                self.covariance_type, gen)
