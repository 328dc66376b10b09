"""Feature extractors (hashes, refusal to mix), the n-gram baseline, evaluate's sample
metrics and ``genlab compare`` end to end on a tiny budget."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genlab
from genlab.cli import main
from genlab.exceptions import InvalidParameterError
from genlab.metrics.features import FeatureExtractor, check_same_extractor, train_extractor, weights_hash
from genlab.models.ngram import CharNGram


@pytest.fixture(scope="module")
def digits():
    return genlab.datasets.load("digits", seed=0)


@pytest.fixture(scope="module")
def extractor(digits):
    return train_extractor(digits.train, digits.test, "digits", steps=150)


def test_extractor_hash_follows_the_weights(extractor, tmp_path):
    assert extractor.id.startswith("digits-") and len(extractor.id) == len("digits-") + 12
    assert extractor.features(torch.rand(3, 1, 8, 8)).shape == (3, 64)
    folder = extractor.save(tmp_path / "x")
    again = FeatureExtractor.load(folder)
    assert again.id == extractor.id
    before = weights_hash(again.net)
    with torch.no_grad():
        next(again.net.parameters())[0, 0, 0, 0] += 1e-3
    assert weights_hash(again.net) != before
    assert FeatureExtractor(again.net, again.meta).id != extractor.id
    assert check_same_extractor([{"extractor": "a"}, {"extractor": "a"}, {}]) == "a"
    with pytest.raises(InvalidParameterError, match="different feature extractors"):
        check_same_extractor([{"extractor": "a"}, {"extractor": "b"}])
    retrained = train_extractor(genlab.datasets.load("digits", seed=0).train, None, "digits", steps=150)
    assert retrained.id == extractor.id                    # training is deterministic


def test_ngram_probabilities_sum_to_one_and_score_exactly(tmp_path):
    text = "the quick brown fox jumps over the lazy dog. " * 30
    lm = CharNGram(order=4, sequence_length=50).fit(text)
    V = lm.codec_.vocab_size
    for ctx in [(), (lm.codec_.encode("t").item(),), tuple(lm.codec_.encode("the ").tolist()), (0, 0, 0)]:
        assert sum(lm._prob(ctx, w) for w in range(V)) == pytest.approx(1.0, abs=1e-12)
    lp = lm.log_prob(text[:120])
    ids = lm.codec_.encode(text[:120]).tolist()
    ref = sum(math.log(lm._prob(tuple(ids[j - min(3, j % 50):j]) if j % 50 else (), w)) for j, w in
              enumerate(ids[:50]))
    assert lp.shape == (3,) and lp[0].item() == pytest.approx(ref, rel=1e-12)
    again = CharNGram.load(lm.save(tmp_path / "lm"))
    assert torch.equal(again.log_prob(text[:120]), lp) and again.sample(2, seed=1) == lm.sample(2, seed=1)


def test_evaluate_reports_sample_metrics_with_the_extractor(digits, extractor):
    model = genlab.create("bayesnet", structure="chow_liu").fit(digits.train)
    report = genlab.evaluate(model, digits, extractor=extractor, n_samples=200)
    for key in ("bits_per_dim", "fd", "kid", "kid_sem", "precision", "recall", "density", "coverage",
                "class_entropy_bits", "c2st_accuracy", "near_copy_fraction", "sample_seconds_per_1000"):
        assert key in report, key
    assert report["extractor"] == extractor.id and report["n_samples"] == 200
    assert 0 <= report["precision"] <= 1 and report["class_entropy_bits"] <= math.log2(10) + 1e-9


def test_compare_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--data", "digits", "--models", "hmm,bayesnet", "--seeds", "1", "--samples", "100",
                 "--out", str(out), "--no-progress"]) == 0
    for name in ("leaderboard.md", "leaderboard.json", "index.html"):
        assert (out / name).exists(), name
    board = json.loads((out / "leaderboard.json").read_text())
    assert [r["model"] for r in board["rows"]] == ["hmm", "bayesnet"]
    assert board["extractor"].startswith("digits-")
    md = (out / "leaderboard.md").read_text()
    assert "| hmm | exact |" in md and "FD" in md
    assert (out / "hmm_samples.png").exists()
    assert "leaderboard written" in capsys.readouterr().out


def test_text_evaluate_and_compare(tmp_path):
    path = tmp_path / "play.txt"
    path.write_text(("ROMEO: what light through yonder window breaks?\nJULIET: ay me!\n" * 40))
    data = genlab.datasets.load(path)
    lm = CharNGram(order=3, sequence_length=64).fit(data.train)
    report = genlab.evaluate(lm, data, n_samples=3)
    assert report["units"] == "discrete" and 0 < report["bits_per_dim"] < 6
    assert 0 <= report["novel_4"] <= 1 and 0 <= report["novel_8"] <= 1
    out = tmp_path / "cmp"
    assert main(["compare", "--data", str(path), "--models", "hmm", "--samples", "2", "--out", str(out),
                 "--no-progress"]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert [r["model"] for r in board["rows"]] == ["ngram", "hmm"] and board["extractor"] is None
    assert "novel 4-grams" in (out / "leaderboard.md").read_text()
