"""The Bayesian network estimator, BIF interchange and parameter learning against
independent references: brute-force enumeration, explicit counting loops, sample
frequencies; bad inputs; the CLI (train, sample, query)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
from genlab.cli import main
from genlab.data.codecs import CategoricalCodec
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.bayesnet import BayesianNetwork
from genlab.models.bayesnet.bif import read_bif, read_bif_string, write_bif_string
from genlab.models.bayesnet.network import DiscreteBN
from genlab.models.bayesnet.parameters import fit_cpts

NETWORKS = ["asia", "sachs", "child", "insurance", "alarm"]


@pytest.fixture
def bnlearn(shared_data):
    return shared_data / "bnlearn"


def _table(bnlearn, name: str) -> pd.DataFrame:
    return pd.read_csv(bnlearn / f"{name}_n10000_seed42.csv", dtype=str, keep_default_na=False)


def _joint(bn: DiscreteBN) -> np.ndarray:
    """The full joint table by brute force (tiny networks only)."""
    card = bn.card
    p = np.zeros(card)
    for x in itertools.product(*(range(c) for c in card)):
        p[x] = math.exp(bn.log_prob_complete(np.array([x]))[0])
    return p


# ----------------------------------------------------------------------------- BIF

@pytest.mark.parametrize("name", NETWORKS)
def test_bif_reads_bnlearn_networks_and_round_trips(bnlearn, name):
    bn = read_bif(bnlearn / f"{name}.bif")
    arcs = {"asia": 8, "sachs": 17, "child": 25, "insurance": 52, "alarm": 46}[name]
    nodes = {"asia": 8, "sachs": 11, "child": 20, "insurance": 27, "alarm": 37}[name]
    assert bn.n_variables == nodes and len(bn.edges()) == arcs
    again = read_bif_string(write_bif_string(bn))
    assert again.variables == bn.variables and again.states == bn.states and again.parents == bn.parents
    for a, b in zip(again.cpts, bn.cpts):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)
    df = _table(bnlearn, name)
    assert list(df.columns) == bn.variables
    for v, col in enumerate(bn.variables):                      # every state in the data is a BIF state
        assert set(df[col]) <= set(bn.states[v])


def test_bif_keeps_state_names_as_strings(bnlearn):
    bn = read_bif(bnlearn / "child.bif")
    assert "None" in bn.states[bn.index("DuctFlow")]
    asia = read_bif(bnlearn / "asia.bif")
    tub = asia.index("tub")
    assert asia.parents[tub] == (asia.index("asia"),)
    np.testing.assert_allclose(asia.cpts[tub], [[0.05, 0.95], [0.01, 0.99]])


@pytest.mark.parametrize("text, match", [
    ("network x { }", "no 'variable' blocks"),
    ("variable a { type discrete [ 3 ] { x, y }; }\nprobability ( a ) { table 0.5, 0.5; }", "declares 3 states"),
    ("variable a { type discrete [ 2 ] { x, y }; }", "no probability block"),
    ("variable a { type discrete [ 2 ] { x, y }; }\nprobability ( a ) { table 0.5, 0.2, 0.3; }", "3 numbers"),
    ("variable a { type discrete [ 2 ] { x, y }; }\nprobability ( a | b ) { (x) 0.5, 0.5; }", "undeclared parent"),
    (("variable a { type discrete [ 2 ] { x, y }; }\nvariable b { type discrete [ 2 ] { x, y }; }\n"
      "probability ( a | b ) { (x) 0.5, 0.5; (y) 0.5, 0.5; }\nprobability ( b | a ) { (x) 0.5, 0.5; (y) 0.5, 0.5; }"),
     "cycle"),
])
def test_bif_errors_name_the_problem(text, match):
    with pytest.raises(DataError, match=match):
        read_bif_string(text)


# ----------------------------------------------------------------------------- parameters

def test_fit_cpts_equal_explicit_counting():
    rng = np.random.default_rng(0)
    card = [2, 3, 2]
    data = np.stack([rng.integers(0, c, 200) for c in card], 1)
    data[rng.random(data.shape) < 0.1] = -1                                    # missing values
    parents = [(), (0,), (0, 1)]
    for method, extra in (("mle", 0.0), ("dirichlet", 1.0), ("bdeu", None)):
        cpts = fit_cpts(data, card, parents, method=method, ess=6.0, pseudo_count=1.0)
        for v, ps in enumerate(parents):
            shape = (*(card[p] for p in ps), card[v])
            counts = np.zeros(shape)
            for row in data:                                                    # the explicit loop
                if (row[[*ps, v]] >= 0).all():
                    counts[(*row[list(ps)], row[v])] += 1
            prior = (6.0 / counts.size) if method == "bdeu" else extra
            expected = (counts + prior) / (counts + prior).sum(-1, keepdims=True)
            np.testing.assert_allclose(cpts[v], expected, rtol=1e-12)


# ----------------------------------------------------------------------------- estimator

def test_log_prob_is_the_product_of_cpt_entries_and_marginalises_missing(bnlearn):
    model = BayesianNetwork.from_bif(bnlearn / "asia.bif")
    bn = model.network_
    df = _table(bnlearn, "asia").iloc[:50]
    lp = model.log_prob(df).numpy()
    codes = model.codec_.encode(df).numpy()
    for i, row in enumerate(codes[:10]):
        ref = sum(math.log(bn.cpts[v][(*row[list(bn.parents[v])], row[v])]) for v in range(bn.n_variables))
        assert lp[i] == pytest.approx(ref, rel=1e-12)
    joint = _joint(bn)
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    holes = df.copy()
    holes.iloc[0, [1, 3]] = None
    holes.iloc[1, [0, 2, 5, 7]] = ""
    lp_holes = model.log_prob(holes.iloc[:2]).numpy()
    for i in range(2):
        row = model.codec_.encode(holes.iloc[[i]]).numpy()[0]
        idx = tuple(slice(None) if x < 0 else int(x) for x in row)
        assert lp_holes[i] == pytest.approx(math.log(joint[idx].sum()), rel=1e-10)


def test_samples_converge_to_exact_marginals(bnlearn):
    model = BayesianNetwork.from_bif(bnlearn / "asia.bif")
    rows = model.sample(20000, seed=0)
    assert list(rows.columns) == model.network_.variables
    exact = model.all_marginals()
    for col, dist in exact.items():
        freq = rows[col].value_counts(normalize=True).reindex(dist.index, fill_value=0.0)
        sem = np.sqrt(dist * (1 - dist) / len(rows))
        assert (np.abs(freq - dist) <= 5 * sem + 1e-3).all(), col
    given = model.sample(5000, seed=1, evidence={"smoke": "yes", "dysp": "yes"})
    assert (given["smoke"] == "yes").all() and (given["dysp"] == "yes").all()
    post = model.query(["lung"], evidence={"smoke": "yes", "dysp": "yes"})["lung"]
    freq = (given["lung"] == "yes").mean()
    assert abs(freq - post["yes"]) < 5 * math.sqrt(post["yes"] * (1 - post["yes"]) / 5000) + 1e-3
    assert model.sample(3, seed=7).equals(model.sample(3, seed=7))


def test_fit_learns_structure_and_round_trips(bnlearn, tmp_path):
    df = _table(bnlearn, "asia")
    model = BayesianNetwork().fit(df.iloc[:8000], val=df.iloc[8000:])
    assert set(model.train_report_) == {"train_log_prob", "val_log_prob"}
    assert model.train_report_["val_log_prob"] > -3.0          # asia rows: about 2.2 nats under the true network
    model.save(tmp_path / "bn")
    loaded = genlab.load(tmp_path / "bn")
    assert loaded.network_.parents == model.network_.parents
    assert torch.equal(loaded.log_prob(df.iloc[:20]), model.log_prob(df.iloc[:20]))
    assert loaded.sample(4, seed=3).equals(model.sample(4, seed=3))
    model.to_bif(tmp_path / "bn.bif")
    again = BayesianNetwork.from_bif(tmp_path / "bn.bif")
    torch.testing.assert_close(again.log_prob(df.iloc[:20]), model.log_prob(df.iloc[:20]), rtol=1e-12, atol=0)


def test_given_structure_required_and_forbidden_edges(bnlearn):
    df = _table(bnlearn, "asia").iloc[:3000]
    given = BayesianNetwork(structure="given", edges=[("smoke", "lung"), ("lung", "dysp")]).fit(df)
    assert sorted(given.network_.edges()) == [("lung", "dysp"), ("smoke", "lung")]
    hc = BayesianNetwork(edges=[("asia", "dysp")], forbidden_edges=[("smoke", "lung"), ("lung", "smoke")]).fit(df)
    edges = set(hc.network_.edges())
    assert ("asia", "dysp") in edges and not {("smoke", "lung"), ("lung", "smoke")} & edges
    for method in ("pc", "chow_liu", "empty"):
        m = BayesianNetwork(structure=method).fit(df)
        assert np.isfinite(m.log_prob(df.iloc[:5]).numpy()).all()
    assert len(BayesianNetwork(structure="chow_liu").fit(df).network_.edges()) == 7    # a spanning tree


def test_numeric_columns_are_binned():
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000)
    x = torch.tensor(np.stack([a, a + 0.1 * rng.normal(size=2000), rng.normal(size=2000)], 1), dtype=torch.float32)
    model = BayesianNetwork(n_bins=4).fit(x)
    assert model.network_.card == [4, 4, 4]
    assert ("x0", "x1") in model.network_.edges() or ("x1", "x0") in model.network_.edges()
    s = model.sample(500, seed=0)
    assert s.shape == (500, 3) and abs(float(s[:, 0].mean()) - float(a.mean())) < 0.2


def test_query_map_and_errors(bnlearn):
    model = BayesianNetwork.from_bif(bnlearn / "asia.bif")
    joint = _joint(model.network_)
    v = model.network_.variables
    post = model.query(["lung", "tub"], evidence={"xray": "yes"}, joint=True)
    xray, lung, tub = v.index("xray"), v.index("lung"), v.index("tub")
    ref = joint.take(0, axis=xray)                                  # xray = yes (state 0); axes shift past xray
    keep = [lung - (lung > xray), tub - (tub > xray)]
    ref = ref.sum(axis=tuple(i for i in range(7) if i not in keep))
    ref = ref / ref.sum()
    ref = ref if keep[0] < keep[1] else ref.T                       # (lung, tub)
    assert list(post.columns) == ["lung", "tub", "probability"]
    for _, row in post.iterrows():
        i, j = model.network_.states[lung].index(row["lung"]), model.network_.states[tub].index(row["tub"])
        assert row["probability"] == pytest.approx(ref[i, j], rel=1e-10)
    marg = model.query("lung", evidence={"xray": "yes"})["lung"]
    p_lung = joint.take(0, axis=xray).sum(axis=tuple(i for i in range(7) if i != v.index("lung")))
    np.testing.assert_allclose(marg.to_numpy(), p_lung / p_lung.sum(), rtol=1e-10)
    best = model.map_query(["lung", "bronc"], evidence={"dysp": "yes"})
    assert set(best) == {"lung", "bronc"}
    with pytest.raises(DataError, match="unknown variable 'lungs'"):
        model.query("lungs")
    with pytest.raises(DataError, match="unknown state 'maybe'"):
        model.query("lung", evidence={"smoke": "maybe"})
    with pytest.raises(InvalidParameterError, match="both queried and given"):
        model.query("lung", evidence={"lung": "yes"})


def test_bad_inputs_raise_clear_errors(bnlearn):
    df = _table(bnlearn, "asia").iloc[:500]
    with pytest.raises(InvalidParameterError, match="cycle"):
        BayesianNetwork(structure="given", edges=[("smoke", "lung"), ("lung", "smoke")]).fit(df)
    with pytest.raises(InvalidParameterError, match="unknown column 'smok'"):
        BayesianNetwork(structure="given", edges=[("smok", "lung")]).fit(df)
    with pytest.raises(DataError, match="empty"):
        BayesianNetwork().fit(df.iloc[:0])
    const = df.assign(asia="no")
    with pytest.raises(DataError, match="'asia' \\(always 'no'\\)"):
        BayesianNetwork().fit(const)
    with pytest.raises(InvalidParameterError, match="does not apply to BayesianNetwork"):
        BayesianNetwork().fit(df, lr=0.1)
    model = BayesianNetwork(structure="empty").fit(df)
    with pytest.raises(DataError, match="unknown category"):
        model.log_prob(df.assign(smoke="often").iloc[:3])


def test_cli_train_sample_query(bnlearn, tmp_path, capsys):
    run = tmp_path / "bn"
    data = str(bnlearn / "asia_n10000_seed42.csv")
    assert main(["train", "bayesnet", "--data", data, "--out", str(run)]) == 0
    assert isinstance(genlab.load(run).codec_, CategoricalCodec)
    assert main(["sample", str(run), "-n", "20", "--out", str(tmp_path / "s.csv"), "--evidence", "smoke=yes"]) == 0
    s = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    assert len(s) == 20 and (s["smoke"] == "yes").all()
    capsys.readouterr()
    assert main(["query", str(run), "lung", "--evidence", "smoke=yes", "xray=yes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["result"]["lung"]) == {"yes", "no"}
    assert sum(out["result"]["lung"].values()) == pytest.approx(1.0)
    assert main(["query", str(run), "--map", "--evidence", "dysp=yes"]) == 0
    assert "lung = " in capsys.readouterr().out
    assert main(["query", str(run), "lung", "--evidence", "smoke"]) == 2
