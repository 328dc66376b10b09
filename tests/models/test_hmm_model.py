"""``genlab.create("hmm")``: every data form through the common contract, checked against the
estimators it wraps; the CLI on text and on digits."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genlab
from genlab.cli import main
from genlab.data.base import Split
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.hmm import HMM, CategoricalHMM, GaussianHMM

TEXT = "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind to suffer\n" * 4


def test_text_stream_is_cut_into_sequences_and_scored_exactly():
    model = HMM(n_states=3, sequence_length=50).fit(TEXT, max_steps=5)
    assert model.emission_ == "categorical" and isinstance(model.estimator_, CategoricalHMM)
    codec = model.codec_
    ids = codec.encode(TEXT)
    chunks = list(torch.split(ids, 50))
    lp = model.log_prob(TEXT)
    assert lp.shape == (len(chunks),)
    torch.testing.assert_close(lp, model.estimator_.log_prob(chunks), rtol=0, atol=0)
    assert model.likelihood_units() == "discrete" and bool((lp < 0).all())
    samples = model.sample(3, seed=0, length=40)
    assert len(samples) == 3 and all(isinstance(s, str) and len(s) == 40 for s in samples)
    assert set("".join(samples)) <= set(codec.vocab)
    assert samples == model.sample(3, seed=0, length=40)


def test_list_of_strings_are_one_sequence_each():
    lines = ["CCO", "c1ccccc1", "CC(=O)O", "N"]
    model = HMM(n_states=2).fit(lines, max_steps=4)
    lp = model.log_prob(lines)
    assert lp.shape == (4,)
    ref = model.estimator_.log_prob([model.codec_.encode(s) for s in lines])
    torch.testing.assert_close(lp, ref, rtol=0, atol=0)
    with pytest.raises(DataError, match="empty strings"):
        HMM().fit(["CC", ""])


def test_digits_are_pixel_sequences_with_exact_bits_per_dim():
    data = genlab.datasets.load("digits", seed=0)
    model = HMM(n_states=4).fit(data.train[:200], val=data.val[:50], max_steps=8)
    assert model.estimator_.emissionprob_.shape == (4, 17)
    levels = data.codec.to_levels(data.test.x[:5]).reshape(5, 64)
    torch.testing.assert_close(model.log_prob(data.test[:5]), model.estimator_.log_prob(list(levels)))
    report = genlab.evaluate(model, data.test)
    assert report["n_dims"] == 64 and report["units"] == "discrete"
    assert 0 < report["bits_per_dim"] < math.log2(17)                # better than uniform over levels
    assert set(model.train_report_) == {"train_log_prob_per_step", "val_log_prob_per_step"}
    x = model.sample(4, seed=1)
    assert x.shape == (4, 1, 8, 8) and torch.equal(x, data.codec.quantize(x))


def test_numeric_sequences_use_gaussian_emissions():
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(30, 2, generator=g) + (torch.arange(30)[:, None] // 10 % 2) * 4 for _ in range(6)]
    lengths = torch.tensor([30, 25, 30, 12, 30, 30])
    x = torch.nn.utils.rnn.pad_sequence([s[:n] for s, n in zip(seqs, lengths.tolist())], batch_first=True)
    codec = genlab.data.TabularCodec(["a", "b"], [0.0, 0.0], [1.0, 1.0])
    split = Split(x, None, codec, lengths=lengths)
    model = HMM(n_states=2, covariance_type="full").fit(split, max_steps=20)
    assert isinstance(model.estimator_, GaussianHMM) and model.likelihood_units() == "density"
    lp = model.log_prob(split)
    torch.testing.assert_close(lp, model.estimator_.log_prob([s[:n].double() for s, n in zip(seqs, lengths.tolist())]))
    out = model.sample(2, seed=0, length=7)
    assert len(out) == 2 and out[0].shape == (7, 2)
    gmm = HMM(n_states=2, emission="gmm", n_mix=2).fit(split, max_steps=5)
    assert gmm.estimator_.weights_.shape == (2, 2)


def test_save_load_round_trip(tmp_path):
    model = HMM(n_states=3, sequence_length=40).fit(TEXT, max_steps=3)
    folder = model.save(tmp_path / "m")
    loaded = genlab.load(folder)
    assert isinstance(loaded, HMM) and loaded.get_params() == model.get_params()
    assert torch.equal(loaded.log_prob(TEXT), model.log_prob(TEXT))
    assert loaded.sample(2, seed=5) == model.sample(2, seed=5)


def test_errors_name_the_problem():
    data = genlab.datasets.load("digits", seed=0)
    with pytest.raises(InvalidParameterError, match="does not apply to HMM"):
        HMM().fit(TEXT, lr=1e-3)
    with pytest.raises(InvalidParameterError, match="max_steps"):
        HMM().fit(TEXT, max_steps=0)
    rows = Split(torch.randn(20, 3), None, genlab.data.TabularCodec(["a", "b", "c"], [0.0] * 3, [1.0] * 3))
    with pytest.raises(DataError, match="no order"):
        HMM().fit(rows)
    with pytest.raises(InvalidParameterError, match="needs discrete data"):
        HMM(emission="categorical").fit(Split(torch.randn(4, 5, 1), None, rows.codec.__class__(["a"], [0.0], [1.0]),
                                              lengths=torch.tensor([5, 5, 5, 5])))
    model = HMM(n_states=2).fit(data.train[:50], max_steps=2)
    with pytest.raises(InvalidParameterError, match="unconditional"):
        model.sample(2, condition=3)
    with pytest.raises(DataError, match="codec"):
        model.log_prob(TEXT)


def test_cli_trains_samples_and_evaluates_text(tmp_path, capsys):
    path = tmp_path / "play.txt"
    path.write_text(TEXT * 5)
    run = tmp_path / "run"
    assert main(["train", "hmm", "--data", str(path), "--out", str(run), "--n-states", "4", "--max-steps", "5",
                 "--sequence-length", "64"]) == 0
    assert (run / "samples" / "final.txt").read_text().strip()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics[:-1]] == list(range(6)) and "val_loss" in metrics[-1]
    assert main(["sample", str(run), "-n", "2", "--out", str(tmp_path / "s.txt")]) == 0
    assert len((tmp_path / "s.txt").read_text().splitlines()) >= 2
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "hmm" and report["units"] == "discrete" and 0 < report["bits_per_dim"] < 8
    # gradient-trainer flags are not offered for EM
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "hmm", "--data", str(path), "--out", str(run), "--lr", "0.1"])
    assert exit_info.value.code == 2 and "--lr" in capsys.readouterr().err
