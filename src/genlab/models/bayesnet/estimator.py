"""``genlab.create("bayesnet")``: a discrete Bayesian network as a genlab model.

Tables in, tables out: a pandas DataFrame (or a CSV loaded by ``genlab.datasets``) of
categorical columns is modelled as a DAG with one conditional probability table per
column. Continuous columns are cut into quantile bins; images with grey levels become
one variable per pixel. The structure is learned (hill climbing with BIC / BDeu / K2, the
PC algorithm, or the Chow-Liu tree) or given; the CPTs by maximum likelihood or Bayesian
counting. Inference is exact (variable elimination, a junction tree for all marginals at
once) with likelihood weighting and Gibbs sampling for networks too large for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from genlab.base import GenerativeModel
from genlab.data.base import Split
from genlab.data.codecs import CategoricalCodec, Codec, ImageCodec, TabularCodec
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.bayesnet import inference as inf
from genlab.models.bayesnet import structure as st
from genlab.models.bayesnet.bif import read_bif, write_bif
from genlab.models.bayesnet.network import DiscreteBN
from genlab.models.bayesnet.parameters import METHODS, fit_cpts
from genlab.utils.random import as_numpy_generator
from genlab.utils.validation import Interval, Options

__all__ = ["BayesianNetwork"]

STRUCTURES = ("hill_climb", "pc", "chow_liu", "given", "empty")
SCORES = ("bic", "bdeu", "k2")
TRAINING_OPTIONS = ("max_steps", "progress", "out")


class BayesianNetwork(GenerativeModel):
    """Discrete Bayesian network: structure learning, CPTs, exact and approximate inference.

    Parameters
    ----------
    structure : {"hill_climb", "pc", "chow_liu", "given", "empty"}, default "hill_climb"
        How the DAG is found: greedy hill climbing on ``score``, the PC algorithm
        (conditional independence tests at level ``alpha``), the Chow-Liu tree, the
        ``edges`` given, or no edges (independent columns).
    score : {"bic", "bdeu", "k2"}, default "bic"
        Structure score for hill climbing (BDeu with equivalent sample size ``ess``).
    max_indegree : int or None, default None
        Most parents per variable in hill climbing.
    tabu_length : int, default 100
        Recent operations hill climbing may not undo.
    edges : list of (parent, child) names, default None
        The structure when ``structure="given"``; with hill climbing, edges that must
        be present (``required``).
    forbidden_edges : list of (parent, child) names, default None
        Edges hill climbing may not add.
    alpha : float, default 0.01
        Significance level of the PC algorithm's independence tests.
    parameter_method : {"mle", "bdeu", "dirichlet"}, default "bdeu"
        CPT estimate: maximum likelihood, or the posterior mean under the BDeu prior
        (equivalent sample size ``ess``) or a Dirichlet(``pseudo_count``) prior. The
        priors keep every probability above zero, so held-out rows never score -inf.
    ess : float, default 1.0
        Equivalent sample size of BDeu (structure score and parameters).
    pseudo_count : float, default 1.0
        Pseudo-count per cell for ``parameter_method="dirichlet"``.
    n_bins : int, default 5
        Quantile bins per continuous column.
    random_state : int or None, default 0
        Seed (used by the structure search's tie-free steps only through data order;
        kept for the contract).

    Attributes
    ----------
    network_ : DiscreteBN
        Variables, states, parents and CPTs.
    codec_ : Codec
        The data's codec (categorical table, image levels, or numeric table).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"rain": ["yes", "no", "no", "yes"] * 50, "wet": ["yes", "no", "no", "no"] * 50})
    >>> bn = BayesianNetwork(structure="given", edges=[("rain", "wet")]).fit(df)
    >>> bn.query(["wet"], evidence={"rain": "yes"})["wet"].round(3).tolist()
    [0.5, 0.5]
    >>> bn.sample(3, seed=0).shape
    (3, 2)
    """

    name = "bayesnet"
    likelihood = "exact"
    modalities = ("tabular", "image")
    training_options = TRAINING_OPTIONS
    demo: ClassVar[dict[str, Any]] = {"params": {"score": "bdeu", "ess": 100.0, "max_indegree": 3}, "fit": {}}
    _fitted_attributes = ("network_",)
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "structure": [Options(*STRUCTURES)],
        "score": [Options(*SCORES)],
        "max_indegree": [Interval(int, 0, None), None],
        "tabu_length": [Interval(int, 0, None)],
        "alpha": [Interval(float, 0, 1, closed="neither")],
        "parameter_method": [Options(*METHODS)],
        "ess": [Interval(float, 0, None, closed="neither")],
        "pseudo_count": [Interval(float, 0, None)],
        "n_bins": [Interval(int, 2, None)],
        "random_state": [Interval(int, 0, None), None],
        "edges": [list, tuple, None],
        "forbidden_edges": [list, tuple, None],
    }

    def __init__(self, structure: str = "hill_climb", score: str = "bic", max_indegree: int | None = None,
                 tabu_length: int = 100, edges: Sequence[Sequence[str]] | None = None,
                 forbidden_edges: Sequence[Sequence[str]] | None = None, alpha: float = 0.01,
                 parameter_method: str = "bdeu", ess: float = 1.0, pseudo_count: float = 1.0, n_bins: int = 5,
                 random_state: int | None = 0):
        self.structure = structure
        self.score = score
        self.max_indegree = max_indegree
        self.tabu_length = tabu_length
        self.edges = edges
        self.forbidden_edges = forbidden_edges
        self.alpha = alpha
        self.parameter_method = parameter_method
        self.ess = ess
        self.pseudo_count = pseudo_count
        self.n_bins = n_bins
        self.random_state = random_state

    # -- data ------------------------------------------------------------------------
    def _table(self, X: Any, fitting: bool, y: Any = None) -> tuple[np.ndarray, list[str], list[list[str]], Codec]:
        """(int codes (N, V) with -1 missing, variable names, state names, codec) from any accepted form."""
        if isinstance(X, Split) and (fitting or X.codec == self.codec_):
            codec, x = X.codec, X.x
        elif isinstance(X, Split) and isinstance(X.codec, CategoricalCodec) and isinstance(self.codec_,
                                                                                         CategoricalCodec):
            codec = self.codec_                                  # same columns, other state lists: by name
            x = codec.encode(X.codec.decode(X.x))
        elif hasattr(X, "columns") and hasattr(X, "to_numpy"):                          # a DataFrame
            if len(X) == 0:
                raise DataError("the table is empty (0 rows).")
            if fitting:
                codec, x = CategoricalCodec.fit_encode(X)
            else:
                codec = self.codec_
                x = codec.encode(X)
        elif fitting:
            x, _, codec = self._training_data(X, y)
        else:
            codec = self.codec_
            x = codec.encode(X) if isinstance(codec, CategoricalCodec) else self._eval_data(X)[0]
        if isinstance(codec, CategoricalCodec):
            data = np.asarray(x, dtype=np.int64)
            if data.ndim != 2 or data.shape[1] != len(codec.columns):
                raise DataError(f"expected rows of {len(codec.columns)} values; got shape {tuple(data.shape)}.")
            return data, list(codec.columns), [list(s) for s in codec.states], codec
        if isinstance(codec, ImageCodec):
            if codec.levels is None:
                raise DataError("continuous images have no discrete levels; a Bayesian network needs discrete "
                                "data (use a dataset with levels, e.g. digits or MNIST).")
            data = codec.to_levels(x).reshape(len(x), -1).numpy()
            names = [f"px{i}" for i in range(data.shape[1])]
            return data, names, [[str(k) for k in range(codec.levels)]] * data.shape[1], codec
        if isinstance(codec, TabularCodec):
            values = codec.decode(x).numpy().astype(np.float64)                          # original units
            if fitting:
                self.bin_edges_ = _quantile_edges(values, self.n_bins)
            data = np.stack([np.clip(np.searchsorted(e[1:-1], values[:, j], side="right"), 0, len(e) - 2)
                             for j, e in enumerate(self.bin_edges_)], 1).astype(np.int64)
            states = [[f"[{e[k]:.4g}, {e[k + 1]:.4g})" for k in range(len(e) - 1)] for e in self.bin_edges_]
            return data, list(codec.columns), states, codec
        raise DataError(f"a Bayesian network models tables and images with levels; got {codec!r} data.")

    def _names_to_edges(self, edges: Any, variables: list[str], what: str) -> list[tuple[int, int]]:
        out = []
        for e in edges or ():
            if not isinstance(e, (list, tuple)) or len(e) != 2:
                raise InvalidParameterError(f"{what} must be (parent, child) pairs of column names; got {e!r}.")
            for name in e:
                if name not in variables:
                    raise InvalidParameterError(f"{what}: unknown column {name!r}; columns are {variables}.")
            out.append((variables.index(e[0]), variables.index(e[1])))
        return out

    # -- fit -------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, val: Any = None, **training: Any) -> BayesianNetwork:
        """Learn the structure (unless given) and the CPTs.

        Parameters
        ----------
        X : DataFrame, Split, Tensor or array
            Rows of categorical values (a DataFrame's columns by name; missing values as
            None/NaN/""), a split of a categorical or numeric CSV, or images with levels.
        y : ignored
        val : optional
            Held-out rows: their mean log-likelihood is reported in ``train_report_``.
        **training
            ``max_steps`` (most hill-climbing moves), ``progress``, ``out``.
        """
        self._validate_params()
        max_steps = self._check_training_options(training)
        data, variables, states, codec = self._table(X, fitting=True, y=y)
        if len(data) == 0:
            raise DataError("the table is empty (0 rows).")
        card = [len(s) for s in states]
        observed = [np.unique(data[:, v][data[:, v] >= 0]) for v in range(len(variables))]
        empty = [variables[v] for v, o in enumerate(observed) if len(o) == 0]
        if empty:
            raise DataError(f"column(s) {empty} have no observed values.")
        if not isinstance(codec, ImageCodec):          # a constant pixel is normal; a constant column is a mistake
            constant = [f"{variables[v]!r} (always {states[v][o[0]]!r})" for v, o in enumerate(observed) if len(o) == 1]
            if constant:
                raise DataError(f"column(s) {', '.join(constant)} take a single value in the training data; "
                                "they carry no information: drop them before fitting.")
        required = self._names_to_edges(self.edges, variables, "edges") if self.structure in ("given",
                                                                                            "hill_climb") else []
        forbidden = self._names_to_edges(self.forbidden_edges, variables, "forbidden_edges")
        parents: list[tuple[int, ...]]
        if self.structure == "given":
            parents = [tuple(sorted(p for p, c in required if c == v)) for v in range(len(variables))]
        elif self.structure == "empty":
            parents = [() for _ in variables]
        elif self.structure == "hill_climb":
            parents = st.hill_climb(data, card, score=self.score, ess=float(self.ess),
                                    max_indegree=self.max_indegree, tabu_length=self.tabu_length,
                                    max_iter=max_steps or 10**6, required=required, forbidden=forbidden)
        elif self.structure == "pc":
            parents = st.pdag_to_dag(st.pc(data, card, alpha=float(self.alpha)))
        else:
            parents = st.chow_liu(data, card)
        try:
            bn = DiscreteBN(variables, states, [tuple(p) for p in parents])
        except InvalidParameterError as err:
            raise InvalidParameterError(f"edges: {err}") from None
        bn.cpts = fit_cpts(data, card, bn.parents, method=self.parameter_method, ess=float(self.ess),
                           pseudo_count=float(self.pseudo_count))
        DiscreteBN.__post_init__(bn)                                         # validates the CPTs
        self.codec_ = codec
        self.network_ = bn
        report = {"train_log_prob": float(self._log_prob_codes(data).mean())}
        if val is not None:
            vdata = self._table(val, fitting=False)[0]
            report["val_log_prob"] = float(self._log_prob_codes(vdata).mean())
        self.train_report_ = report
        if training.get("progress"):
            print(f"Bayesian network: {len(variables)} variables, {len(bn.edges())} edges, "
                  f"{bn.n_parameters()} free parameters; mean log-likelihood " +
                  ", ".join(f"{k.split('_')[0]} {v:.4f}" for k, v in report.items()) + " nats")
        return self

    # -- probability -------------------------------------------------------------------
    def _log_prob_codes(self, data: np.ndarray) -> np.ndarray:
        bn = self.network_
        complete = (data >= 0).all(1)
        out = np.empty(len(data))
        if complete.any():
            out[complete] = bn.log_prob_complete(data[complete])
        if (~complete).any():
            out[~complete] = inf.log_evidence(bn, data[~complete])
        return out

    def log_prob(self, X: Any, y: Any = None) -> torch.Tensor:
        """Exact log-probability in nats of each row, shape (n,): the sum of log CPT entries,
        with missing values marginalised out (variable elimination). For binned numeric
        columns it is the probability of the bins."""
        self._check_fitted()
        data = self._table(X, fitting=False)[0]
        return torch.from_numpy(self._log_prob_codes(data))

    def likelihood_units(self) -> str:
        """``"discrete"``: log_prob is the log of a probability of the (discrete or binned) row."""
        return "discrete"

    # -- evidence ----------------------------------------------------------------------
    def _evidence(self, evidence: Mapping[str, Any] | None) -> dict[int, int]:
        bn = self.network_
        out = {}
        for name, state in (evidence or {}).items():
            v = bn.index(name)
            out[v] = bn.state_index(v, state)
        return out

    def query(self, variables: Sequence[str] | str, evidence: Mapping[str, Any] | None = None,
              joint: bool = False) -> Any:
        """Exact posterior p(variables | evidence) by variable elimination.

        Returns a dict ``{variable: pandas Series over its states}`` (``joint=False``), or a
        DataFrame with one row per joint configuration and a ``probability`` column.
        Unknown variables or states raise DataError naming the valid ones.
        """
        import pandas as pd

        self._check_fitted()
        bn = self.network_
        names = [variables] if isinstance(variables, str) else list(variables)
        idx = [bn.index(v) for v in names]
        ev = self._evidence(evidence)
        both = [bn.variables[v] for v in idx if v in ev]
        if both:
            raise InvalidParameterError(f"{both} are both queried and given as evidence.")
        if joint:
            factor = inf.query(bn, idx, ev, joint=True).transpose(tuple(idx))
            table, fvars = np.asarray(factor.table), list(factor.variables)
            grids = np.meshgrid(*[np.arange(bn.card[v]) for v in fvars], indexing="ij")
            df = pd.DataFrame({bn.variables[v]: np.array(bn.states[v], dtype=object)[g.reshape(-1)]
                               for v, g in zip(fvars, grids)})
            df["probability"] = table.reshape(-1)
            return df
        margs = inf.query(bn, idx, ev, joint=False)
        return {bn.variables[v]: pd.Series(np.asarray(m.table), index=bn.states[v], name=bn.variables[v])
                for v, m in zip(idx, margs)}

    def all_marginals(self, evidence: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every variable's posterior marginal given evidence in one junction-tree pass."""
        import pandas as pd

        self._check_fitted()
        bn = self.network_
        margs = inf.all_marginals(bn, self._evidence(evidence))
        return {bn.variables[v]: pd.Series(np.asarray(m), index=bn.states[v], name=bn.variables[v])
                for v, m in enumerate(margs)}

    def map_query(self, variables: Sequence[str] | None = None,
                  evidence: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Most probable joint state of ``variables`` given evidence (all others summed out);
        ``variables=None`` gives the most probable explanation of every unobserved variable."""
        self._check_fitted()
        bn = self.network_
        ev = self._evidence(evidence)
        if variables is None:
            best = inf.mpe(bn, ev)
        else:
            best = inf.map_query(bn, [bn.index(v) for v in variables], ev)
        return {bn.variables[v]: bn.states[v][s] for v, s in sorted(best.items())}

    # -- sampling ----------------------------------------------------------------------
    def sample(self, n: int, *, seed: Any = None, condition: Any = None, evidence: Mapping[str, Any] | None = None,
               method: str = "exact") -> Any:
        """Draw ``n`` rows by forward sampling, or from p(x | evidence).

        ``evidence`` (``condition`` is the same) maps column names to states; ``method``
        ("exact", "lw" likelihood weighting, "gibbs") picks the conditional sampler.
        Returns a DataFrame for tables, (n, C, H, W) images in [0, 1] for images, and
        (n, D) values for binned numeric tables (uniform within each bin).
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterError(f"n must be a positive int; got {n!r}.")
        if condition is not None and evidence is not None:
            raise InvalidParameterError("give evidence or condition, not both.")
        evidence = condition if condition is not None else evidence
        if evidence is not None and not isinstance(evidence, Mapping):
            raise InvalidParameterError("condition/evidence must be a dict {column: state}.")
        rng = as_numpy_generator(seed)
        bn = self.network_
        ev = self._evidence(evidence)
        codes = inf.sample_given_evidence(bn, n, ev, rng, method=method) if ev else bn.sample(n, rng)
        return self._decode(codes, rng)

    def _decode(self, codes: np.ndarray, rng: np.random.Generator) -> Any:
        codec = self.codec_
        if isinstance(codec, CategoricalCodec):
            return codec.decode(torch.from_numpy(codes))
        if isinstance(codec, ImageCodec):
            x = torch.from_numpy(codes).float().reshape(len(codes), *codec.shape) / (codec.levels - 1)
            return codec.decode(x)
        lo = np.stack([e[codes[:, j]] for j, e in enumerate(self.bin_edges_)], 1)
        hi = np.stack([e[codes[:, j] + 1] for j, e in enumerate(self.bin_edges_)], 1)
        return torch.from_numpy(lo + (hi - lo) * rng.random(lo.shape)).float()

    # -- interchange -------------------------------------------------------------------
    def to_bif(self, path: Any) -> Any:
        """Write the fitted network as a ``.bif`` file."""
        self._check_fitted()
        return write_bif(self.network_, path)

    @classmethod
    def from_bif(cls, path: Any) -> BayesianNetwork:
        """A fitted model holding the network of a ``.bif`` file (structure and CPTs as given)."""
        bn = read_bif(path)
        model = cls(structure="given", edges=[list(e) for e in bn.edges()])
        model.codec_ = CategoricalCodec(bn.variables, bn.states)
        model.network_ = bn
        model.train_report_ = {}
        return model

    # -- persistence -------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        bn = self.network_
        tensors = {f"cpt.{v}": torch.from_numpy(np.ascontiguousarray(c)) for v, c in enumerate(bn.cpts)}
        state = {"variables": bn.variables, "states": bn.states, "parents": [list(p) for p in bn.parents]}
        if hasattr(self, "bin_edges_"):
            state["bin_edges"] = [e.tolist() for e in self.bin_edges_]
        return tensors, state

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        V = len(state["variables"])
        cpts = [tensors[f"cpt.{v}"].numpy().astype(np.float64) for v in range(V)]
        self.network_ = DiscreteBN(state["variables"], state["states"], [tuple(p) for p in state["parents"]], cpts)
        if "bin_edges" in state:
            self.bin_edges_ = [np.asarray(e, dtype=np.float64) for e in state["bin_edges"]]
        self.train_report_ = {}


def _quantile_edges(values: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Per column, increasing bin edges at the quantiles (duplicates merged), spanning min..max."""
    edges = []
    for j in range(values.shape[1]):
        col = values[:, j]
        e = np.unique(np.quantile(col, np.linspace(0, 1, n_bins + 1)))
        if len(e) < 2:
            e = np.array([col.min(), col.min() + 1.0])
        edges.append(e)
    return edges
