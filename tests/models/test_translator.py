"""Translator (encoder-decoder transformer), its byte-level BPE codec and the parallel-corpus loader."""

from __future__ import annotations

import gzip
import itertools
import json
import random

import pytest
import torch

import genlab
from genlab.data import BPECodec, codec_from_json, load_parallel
from genlab.exceptions import DataError, InvalidParameterError, NotFittedError
from genlab.models import TASK_MODELS
from genlab.models.autoregressive import Translator, corpus_bleu
from genlab.models.autoregressive.seq2seq import (
    Seq2SeqConfig,
    Seq2SeqTransformer,
    beam_search,
    greedy_search,
    length_penalty,
)

torch.set_num_threads(1)

PAIRS = [
    ("A man rides a horse.", "Ein Mann reitet ein Pferd."),
    ("A woman reads a book.", "Eine Frau liest ein Buch."),
    ("Two dogs play in the snow.", "Zwei Hunde spielen im Schnee."),
    ("A child eats an apple.", "Ein Kind isst einen Apfel."),
    ("The girl is singing.", "Das Mädchen singt."),
    ("A boy jumps into the water.", "Ein Junge springt ins Wasser."),
    ("Three men are walking.", "Drei Männer gehen spazieren."),
    ("A cat sleeps on the sofa.", "Eine Katze schläft auf dem Sofa."),
    ("People are dancing.", "Leute tanzen."),
    ("A dog runs on the beach.", "Ein Hund rennt am Strand."),
    ("The man is cooking.", "Der Mann kocht."),
    ("A woman rides a bike.", "Eine Frau fährt Fahrrad."),
    ("Two girls are laughing.", "Zwei Mädchen lachen."),
    ("A man plays the guitar.", "Ein Mann spielt Gitarre."),
    ("Children play football.", "Kinder spielen Fußball."),
    ("A bird sits on a tree.", "Ein Vogel sitzt auf einem Baum."),
    ("The boy reads a letter.", "Der Junge liest einen Brief."),
    ("A woman drinks coffee.", "Eine Frau trinkt Kaffee."),
    ("Two men climb a rock.", "Zwei Männer klettern auf einen Felsen."),
    ("A dog catches a ball.", "Ein Hund fängt einen Ball."),
]
SOURCES = [s for s, _ in PAIRS]
TARGETS = [t for _, t in PAIRS]

TRICKY = ["", " ", "  leading and trailing  ", "emoji 😀👍🏽 and flags 🇩🇪", "漢字かなカナ 한국어", "e\u0301 (combining) a\u0308",
          "crlf\r\nline\n\ttab", "<s> </s> <pad> look like specials", "\x00 nul \x7f del", "ẞtraße – “quotes”",
          "\u200b zero width \ufeff bom", "a" * 300]


@pytest.fixture(scope="module")
def codec() -> BPECodec:
    return BPECodec.train(SOURCES + TARGETS, vocab_size=400)


@pytest.fixture(scope="module")
def trained() -> Translator:
    """A tiny model that has memorised the 20 pairs."""
    model = Translator(n_layer=2, n_head=2, n_embd=64, dropout=0.0, vocab_size=400, label_smoothing=0.0)
    return model.fit(SOURCES, TARGETS, max_steps=300, batch_size=20, lr=1e-2, warmup_steps=20, progress=False)


def _random_net(vocab: int = 40, seed: int = 0, n_layer: int = 2) -> Seq2SeqTransformer:
    torch.manual_seed(seed)
    net = Seq2SeqTransformer(Seq2SeqConfig(vocab_size=vocab, n_layer=n_layer, n_head=2, n_embd=16, dropout=0.0))
    with torch.no_grad():   # larger weights than the initialisation: peaked, varied next-token distributions
        for p in net.parameters():
            if p.ndim == 2:
                p.normal_(0, 0.5)
    return net.eval()


def _padded(rows: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r)
    return out


def _random_sources(rng: random.Random, n: int, vocab: int) -> list[list[int]]:
    return [[rng.randrange(3, vocab) for _ in range(rng.randint(0, 7))] + [2] for _ in range(n)]


# ------------------------------------------------------------------ BPE codec
def test_bpe_round_trips_tricky_text(codec):
    for text in TRICKY:
        ids = codec.encode(text)
        assert ids.dtype == torch.int64 and ids.ndim == 1
        assert codec.decode(ids) == text
    assert codec.encode("").shape == (0,)
    batch = codec.encode(TRICKY)
    assert batch.shape == (len(TRICKY), max(codec.lengths(TRICKY)))
    assert codec.decode(batch, lengths=codec.lengths(TRICKY)) == TRICKY


def test_bpe_round_trips_random_unicode(codec):
    rng = random.Random(0)
    ranges = [(0x20, 0x7F), (0, 0x20), (0xA0, 0x2FF), (0x300, 0x36F), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF),
              (0xE000, 0xF8FF), (0x10000, 0x10FFFF)]
    texts = []
    for _ in range(300):
        chars = []
        for _ in range(rng.randint(0, 40)):
            lo, hi = rng.choice(ranges)
            c = rng.randint(lo, hi)
            chars.append(chr(c if not 0xD800 <= c <= 0xDFFF else 0x41))
        texts.append("".join(chars))
    assert codec.decode(codec.encode(texts), lengths=codec.lengths(texts)) == texts
    assert all(codec.decode(codec.encode(t)) == t for t in texts[:50])


def test_bpe_special_tokens_padding_and_errors(codec):
    assert [codec.token_id(t) for t in ("<pad>", "<s>", "</s>")] == [0, 1, 2]
    assert 2 not in codec.encode("</s>").tolist()                     # text is never a special token
    assert codec.decode(torch.tensor([1, *codec.encode("Ein Hund").tolist(), 2, 0, 0])) == "Ein Hund"
    x = codec.encode(["Leute tanzen.", "Ein"])
    assert x[1, codec.lengths(["Ein"])[0]:].eq(0).all()
    with pytest.raises(DataError, match="strings"):
        codec.encode(["ok", 3])
    with pytest.raises(DataError, match="token ids"):
        codec.decode(torch.tensor([codec.vocab_size]))
    with pytest.raises(DataError, match="not a token"):
        codec.token_id("<unk>")
    with pytest.raises(InvalidParameterError, match="vocab_size"):
        BPECodec.train(["abc"], vocab_size=100)
    with pytest.raises(DataError, match="not one string"):
        BPECodec.train("abc")
    with pytest.raises(DataError, match="byte-level"):
        from tokenizers import Tokenizer, models

        BPECodec(Tokenizer(models.BPE()).to_str())


def test_bpe_json_round_trip(codec):
    blob = json.loads(json.dumps(codec.to_json()))          # what codec.json holds
    assert blob["kind"] == "bpe" and isinstance(blob["tokenizer"], str)
    again = codec_from_json(blob)
    assert isinstance(again, BPECodec) and again == codec
    assert torch.equal(again.encode(TRICKY), codec.encode(TRICKY))
    assert again != BPECodec.train(["something else entirely"] * 3, vocab_size=300)


# ------------------------------------------------------------------ network and search
def test_bucketed_loss_equals_plain_batch_loss():
    net = _random_net()
    rng = random.Random(1)
    src = _padded(_random_sources(rng, 6, 40))
    tgt = _padded([[1, *r] for r in _random_sources(rng, 6, 40)])
    plain, _ = net(src, tgt)
    width_s, width_t = src.shape[1] + 3, tgt.shape[1] + 2      # extra padding and two empty rows
    src_b = torch.zeros(2, 4, width_s, dtype=torch.long)
    tgt_b = torch.zeros(2, 4, width_t, dtype=torch.long)
    src_b.view(8, -1)[:6, :src.shape[1]] = src
    tgt_b.view(8, -1)[:6, :tgt.shape[1]] = tgt
    bucketed, _ = net(src_b, tgt_b)
    torch.testing.assert_close(bucketed, plain)


def test_padding_does_not_change_outputs():
    net = _random_net()
    rng = random.Random(2)
    srcs = _random_sources(rng, 5, 40)
    tgts = [[1, *r] for r in _random_sources(rng, 5, 40)]
    mem, mask = net.encode(_padded(srcs))
    logits = net.decode(_padded(tgts)[:, :-1], mem, mask)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        mem_1, mask_1 = net.encode(torch.tensor([s]))
        torch.testing.assert_close(mem[i, :len(s)], mem_1[0], atol=1e-5, rtol=1e-5)
        logits_1 = net.decode(torch.tensor([t[:-1]]), mem_1, mask_1)
        torch.testing.assert_close(logits[i, :len(t) - 1], logits_1[0], atol=1e-5, rtol=1e-5)
    limits = torch.tensor([6] * 5)
    batch = greedy_search(net, _padded(srcs), limits)
    assert batch == [greedy_search(net, torch.tensor([s]), limits[:1])[0] for s in srcs]
    beams = beam_search(net, _padded(srcs), limits, 3, 0.6)
    assert beams == [beam_search(net, torch.tensor([s]), limits[:1], 3, 0.6)[0] for s in srcs]


def test_cached_decoding_equals_full_forward():
    net = _random_net()
    src = torch.tensor([[5, 9, 11, 2], [7, 2, 0, 0]])
    tgt = torch.tensor([[1, 4, 8, 15, 16, 23], [1, 42 % 40, 3, 3, 9, 12]])
    mem, mask = net.encode(src)
    full = net.decode(tgt, mem, mask)
    caches = net.new_caches(2, tgt.shape[1], mem)
    kv = net.context_kv(mem)
    steps = torch.stack([net.step(tgt[:, t:t + 1], caches, kv, mask) for t in range(tgt.shape[1])], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)


def test_beam_size_one_is_greedy():
    rng = random.Random(3)
    for seed in range(3):
        net = _random_net(seed=seed)
        src = _padded(_random_sources(rng, 8, 40))
        limits = torch.tensor([rng.randint(1, 12) for _ in range(8)])
        for alpha in (0.0, 0.6, 1.5, -0.5):
            assert beam_search(net, src, limits, 1, alpha) == greedy_search(net, src, limits)


def _sequence_log_probs(net, src: list[int], seqs: list[list[int]]) -> torch.Tensor:
    tgt = _padded([[1, *s, 2] for s in seqs])
    lp, real = net.token_log_probs(torch.tensor([src] * len(seqs)), tgt)
    return (lp * real).sum(1)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_exhaustive_beam_finds_the_best_hypothesis(alpha):
    """With more beams than prefixes, beam search must return the brute-force optimum of
    log p(y | x) / lp(|y|) over every sequence of at most 3 tokens."""
    net = _random_net(vocab=6, seed=4)        # <pad> <s> </s> + 3 tokens
    limit = 3
    seqs = [list(s) for n in range(limit + 1) for s in itertools.product(range(3, 6), repeat=n)]   # 40
    for src in ([3, 4, 2], [5, 2], [4, 4, 5, 3, 2]):
        scores = _sequence_log_probs(net, src, seqs)
        norm = scores / torch.tensor([length_penalty(len(s) + 1, alpha) for s in seqs])
        best = seqs[int(norm.argmax())]
        got = beam_search(net, torch.tensor([src]), torch.tensor([limit]), 64, alpha, exact=True)[0]
        assert got == best
        if alpha == 0:   # the usual stopping rule is exact too
            assert beam_search(net, torch.tensor([src]), torch.tensor([limit]), 64, alpha)[0] == best
        # a 1-beam search returns greedy's sequence, which can only score as well or worse
        greedy = beam_search(net, torch.tensor([src]), torch.tensor([limit]), 1, alpha)[0]
        assert norm[seqs.index(greedy)] <= norm.max()


def test_limits_are_respected():
    net = _random_net(seed=5)
    src = _padded(_random_sources(random.Random(5), 6, 40))
    limits = torch.tensor([0, 1, 2, 3, 4, 5])
    for out in (greedy_search(net, src, limits), beam_search(net, src, limits, 4, 0.6),
                greedy_search(net, src, limits, generator=torch.Generator().manual_seed(0), temperature=1.0)):
        assert all(len(h) <= n for h, n in zip(out, limits.tolist()))
        assert all(t not in (0, 1, 2) for h in out for t in h)


# ------------------------------------------------------------------ the Translator model
def test_overfits_and_translates_exactly(trained):
    assert trained.translate(SOURCES, beam_size=1) == TARGETS
    assert trained.translate(SOURCES, beam_size=4) == TARGETS
    assert trained.translate(SOURCES[0]) == TARGETS[0]
    assert trained.translate([]) == []
    result = trained.bleu(SOURCES, TARGETS, beam_size=2)
    assert result.score == pytest.approx(100.0) and float(result) == result.score
    assert "tok:13a" in result.signature and result.hypotheses == TARGETS
    assert trained.likelihood == "exact" and trained.likelihood_units() == "discrete"


def test_translate_batches_equal_single_sentences(trained):
    inputs = [*SOURCES[:6], "An unseen sentence about a red car.", ""]
    for beam in (1, 3):
        batched = trained.translate(inputs, beam_size=beam, batch_size=3)
        assert batched == [trained.translate(s, beam_size=beam) for s in inputs]


def test_log_prob_is_the_teacher_forced_sum(trained):
    lp = trained.log_prob(TARGETS[:5], SOURCES[:5])
    assert lp.shape == (5,)
    net, codec = trained.module_, trained.codec_
    for i in range(5):
        src = torch.tensor([codec.encode(SOURCES[i]).tolist() + [2]])
        tgt = torch.tensor([[1, *codec.encode(TARGETS[i]).tolist(), 2]])
        mem, mask = net.encode(src)
        logp = torch.log_softmax(net.decode(tgt[:, :-1], mem, mask), dim=-1)[0]
        expected = logp.gather(1, tgt[0, 1:, None]).sum()
        torch.testing.assert_close(lp[i], expected, atol=1e-4, rtol=1e-5)
    assert (lp < 0).all() and lp.sum() > -1.0                      # memorised: probability near 1
    wrong = trained.log_prob(TARGETS[1:6], SOURCES[:5])
    assert (wrong < lp).all() and wrong.sum() < lp.sum() - 20
    from genlab.data import Pairs

    torch.testing.assert_close(trained.log_prob(Pairs(SOURCES[:5], TARGETS[:5])), lp)


def test_sample_is_seeded(trained):
    a = trained.sample(4, seed=0, condition="A man rides a horse.", temperature=1.5)
    assert a == trained.sample(4, seed=0, condition="A man rides a horse.", temperature=1.5)
    assert len(a) == 4 and all(isinstance(s, str) for s in a)
    assert trained.sample(2, seed=1, condition=SOURCES[:2], temperature=0.01) == TARGETS[:2]


def test_save_load_round_trip(trained, tmp_path):
    trained.save(tmp_path / "run")
    codec_json = json.loads((tmp_path / "run" / "codec.json").read_text())
    assert codec_json["kind"] == "bpe"
    again = genlab.load(tmp_path / "run")
    assert isinstance(again, Translator) and again.get_params() == trained.get_params()
    assert again.codec_ == trained.codec_
    inputs = [*SOURCES[:4], "Something new entirely."]
    for beam in (1, 4):
        assert again.translate(inputs, beam_size=beam) == trained.translate(inputs, beam_size=beam)
    torch.testing.assert_close(again.log_prob(TARGETS, SOURCES), trained.log_prob(TARGETS, SOURCES))
    assert Translator.load(tmp_path / "run").n_steps_ == trained.n_steps_
    assert TASK_MODELS["translator"] is Translator and "translator" not in genlab.available()


def test_validation_and_bucketing_in_fit():
    model = Translator(n_layer=1, n_head=2, n_embd=16, vocab_size=300)
    model.fit(SOURCES[:14], TARGETS[:14], val=(SOURCES[14:], TARGETS[14:]), max_steps=4, batch_size=4,
              eval_every=2, progress=False)
    assert [h["step"] for h in model.history_ if "val_loss" in h] == [2, 4]
    assert model.n_steps_ == 4


def test_bad_inputs_raise_clear_errors(trained):
    with pytest.raises(NotFittedError):
        Translator().translate(["a"])
    model = Translator(n_layer=1, n_embd=16, n_head=2, vocab_size=300)
    with pytest.raises(DataError, match="3 source and 2 target"):
        model.fit(SOURCES[:3], TARGETS[:2], max_steps=1)
    with pytest.raises(DataError, match="empty"):
        model.fit([], [], max_steps=1)
    with pytest.raises(DataError, match="item 1 is int"):
        model.fit(["a", 1], ["b", "c"], max_steps=1)
    with pytest.raises(DataError, match="not a single str"):
        model.fit("a sentence", "ein Satz", max_steps=1)
    with pytest.raises(DataError, match="source and target"):
        model.fit(SOURCES, max_steps=1)
    with pytest.raises(InvalidParameterError, match="multiple of n_head"):
        Translator(n_embd=30, n_head=4).fit(SOURCES, TARGETS, max_steps=1)
    with pytest.raises(InvalidParameterError, match="vocab_size"):
        Translator(vocab_size=10).fit(SOURCES, TARGETS, max_steps=1)
    with pytest.raises(InvalidParameterError, match="unknown training option"):
        model.fit(SOURCES, TARGETS, max_step=1)
    with pytest.raises(InvalidParameterError, match="beam_size"):
        trained.translate(SOURCES, beam_size=0)
    with pytest.raises(InvalidParameterError, match="beam_size"):
        trained.translate(SOURCES, beam_size=2.5)
    with pytest.raises(InvalidParameterError, match="length_penalty"):
        trained.translate(SOURCES, length_penalty=float("nan"))
    with pytest.raises(DataError, match="item 0 is int"):
        trained.translate([3])
    with pytest.raises(InvalidParameterError, match="condition"):
        trained.sample(2)
    with pytest.raises(InvalidParameterError, match="give one, or n=3"):
        trained.sample(3, condition=SOURCES[:2])
    with pytest.raises(DataError, match="needs the source"):
        trained.log_prob(TARGETS)
    with pytest.raises(DataError, match="hypotheses for"):
        corpus_bleu(["a"], ["a", "b"])


# ------------------------------------------------------------------ parallel corpora
def _write(path, lines, gz=True):
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_load_parallel_from_a_folder(tmp_path):
    _write(tmp_path / "train.en.gz", ["a", "b", "c"])
    _write(tmp_path / "train.de.gz", ["x", "y", "z"])
    _write(tmp_path / "val.en", ["d"], gz=False)
    _write(tmp_path / "val.de", ["w"], gz=False)
    _write(tmp_path / "test_2017.en.gz", ["e\r"])
    _write(tmp_path / "test_2017.de.gz", ["v"])
    corpus = load_parallel(tmp_path, "en", "de")
    assert corpus.train.source == ["a", "b", "c"] and corpus.train.target == ["x", "y", "z"]
    assert corpus.val.source == ["d"] and corpus.test.source == ["e"] and corpus.test_split == "test_2017"
    assert len(corpus.train[:2]) == 2
    reverse = load_parallel(tmp_path, "de", "en")
    assert reverse.train.source == ["x", "y", "z"]
    with pytest.raises(DataError, match="languages of the 'train' split there: de, en"):
        load_parallel(tmp_path, "en", "fr")
    _write(tmp_path / "train.fr.gz", ["1", "2"])
    with pytest.raises(DataError, match="has 3 lines but train.fr has 2"):
        load_parallel(tmp_path, "en", "fr")
    with pytest.raises(InvalidParameterError, match="two languages"):
        load_parallel(tmp_path, "en", "en")
    with pytest.raises(DataError, match="not a folder"):
        load_parallel(tmp_path / "nowhere")


def test_load_parallel_checks_multi30k_checksums(tmp_path):
    _write(tmp_path / "train.en.gz", ["not multi30k"])
    _write(tmp_path / "train.de.gz", ["nicht multi30k"])
    assert load_parallel(tmp_path).train.source == ["not multi30k"]      # not a Multi30k folder
    _write(tmp_path / "test_2016_flickr.en.gz", ["not multi30k"])
    _write(tmp_path / "test_2016_flickr.de.gz", ["nicht multi30k"])
    with pytest.raises(DataError, match="sha256 of Multi30k"):
        load_parallel(tmp_path)
    assert load_parallel(tmp_path, verify=False).train.source == ["not multi30k"]


def test_load_multi30k(shared_data):
    root = shared_data / "multi30k"
    if not root.is_dir():
        pytest.skip("multi30k not in the shared data")
    corpus = load_parallel(root, "en", "de")
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (29000, 1014, 1000)
    assert corpus.test_split == "test_2016_flickr"
    assert corpus.train.source[0] == "Two young, White males are outside near many bushes."
    assert corpus.train.target[0] == "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."
    assert sum(len(s.split()) for s in corpus.test.source) == 11877


# ------------------------------------------------------------------ command line
def test_cli_train_and_translate(tmp_path, capsys):
    import argparse

    from genlab.cli_translate import add_parsers, train_translator, translate

    data = tmp_path / "corpus"
    data.mkdir()
    _write(data / "train.en.gz", SOURCES)
    _write(data / "train.de.gz", TARGETS)
    _write(data / "val.en.gz", SOURCES[:3])
    _write(data / "val.de.gz", TARGETS[:3])
    run = tmp_path / "run"
    rc = train_translator(["--data", str(data), "--out", str(run), "--n-layer", "1", "--n-embd", "16", "--n-head", "2",
                           "--vocab-size", "300", "--max-steps", "3", "--batch-size", "8", "--precision", "bf16",
                           "--time-limit", "60", "--bleu-beam-size", "2", "--progress", "false"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "trained translator en->de" in out and "validation BLEU" in out
    info = json.loads((run / "run.json").read_text())
    assert info["steps"] == 3 and info["params"]["n_embd"] == 16 and "signature" in info["val_bleu"]
    (tmp_path / "in.txt").write_text("A dog runs.\nTwo men.\n", encoding="utf-8")
    assert translate([str(run), "A man rides a horse.", "--file", str(tmp_path / "in.txt"), "--beam-size", "1"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[-1] == ""
    assert translate([str(run)]) == 2
    assert "nothing to translate" in capsys.readouterr().err
    assert train_translator(["--data", str(data), "--out", str(tmp_path / "r2"), "--target", "fr"]) == 2
    assert "languages of the 'train' split there: de, en" in capsys.readouterr().err
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["translate", str(run), "Leute tanzen.", "--beam-size", "2"])
    assert args.func(args) == 0 and capsys.readouterr().out.count("\n") == 1
