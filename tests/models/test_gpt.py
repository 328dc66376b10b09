"""GPT: causality, the KV cache, exact log-probabilities, sampling filters, prompts, persistence."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import genlab
from genlab.data.codecs import ImageCodec
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.autoregressive import GPT
from genlab.models.autoregressive.gpt import _choose
from genlab.models.autoregressive.network import GPTConfig, GPTNetwork, TokenWindows

FIT = {"progress": False}
TEXT = "to be or not to be, that is the question. " * 30


@pytest.fixture(scope="module")
def text_model():
    return GPT(n_layer=2, n_head=2, n_embd=32, context_length=32).fit(TEXT, max_steps=60, **FIT)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return GPTNetwork(GPTConfig(vocab_size=11, context_length=256, n_layer=2, n_head=2, n_embd=16)).eval()


@torch.no_grad()
def test_changing_a_token_never_changes_earlier_logits(net):
    x = torch.randint(0, 11, (1, 40))
    base = net.logits(x)
    for t in (0, 7, 39):
        y = x.clone()
        y[0, t] = (y[0, t] + 1) % 11
        changed = net.logits(y)
        assert torch.equal(changed[0, :t], base[0, :t])
        assert not torch.allclose(changed[0, t:], base[0, t:])


@torch.no_grad()
def test_kv_cache_logits_equal_full_forward_for_200_generated_tokens(net):
    gen = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 11, (3, 1))
    caches = net.new_caches(3)
    cached = [net.logits(seq, caches)[:, -1]]
    for _ in range(200):
        nxt = torch.multinomial(torch.softmax(cached[-1], -1), 1, generator=gen)
        seq = torch.cat([seq, nxt], dim=1)
        cached.append(net.logits(nxt, caches)[:, -1])
    full = net.logits(seq)                                           # (3, 201, V)
    assert torch.allclose(torch.stack(cached, dim=1), full, atol=1e-5)


def test_generation_with_and_without_cache_agree(text_model):
    a = text_model.sample(2, prompt="to be", max_new_tokens=80, temperature=0, use_cache=True)
    b = text_model.sample(2, prompt="to be", max_new_tokens=80, temperature=0, use_cache=False)
    assert a == b and len(a[0]) == len("to be") + 80   # past the 32-token context: the sliding window


def test_log_prob_equals_sum_of_plain_forward_log_softmax():
    data = genlab.datasets.load("digits", seed=0)
    m = GPT(n_layer=1, n_head=2, n_embd=16, context_length=64).fit(data.train[:200], max_steps=10, **FIT)
    x = data.test[:5]
    levels = torch.round(x.x.reshape(5, -1) * 16).long()
    tokens = torch.cat([torch.full((5, 1), 17), levels], dim=1)
    with torch.no_grad():
        logits = m.module_.logits(tokens[:, :-1])
    ref = torch.log_softmax(logits.double(), -1).gather(-1, tokens[:, 1:, None]).squeeze(-1).sum(1)
    assert torch.allclose(m.log_prob(x), ref, atol=1e-4)


def test_text_probabilities_over_all_length_3_strings_sum_to_one():
    m = GPT(n_layer=1, n_head=2, n_embd=8, context_length=2).fit("abcabcaabbcc" * 5, max_steps=5, **FIT)
    texts = ["".join(t) for t in itertools.product("abc", repeat=3)]
    total = torch.logsumexp(m.log_prob(texts), dim=0)
    assert abs(float(total)) < 1e-5


def test_image_probabilities_over_all_images_sum_to_one():
    x = torch.tensor([[0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=torch.float32).reshape(3, 1, 1, 3)
    m = GPT(n_layer=1, n_head=2, n_embd=8, context_length=4).fit(x, max_steps=5, batch_size=3, **FIT)
    assert m.codec_ == ImageCodec((1, 1, 3), levels=2)
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3))).reshape(8, 1, 1, 3)
    assert abs(float(torch.logsumexp(m.log_prob(every), 0))) < 1e-5


def test_sequence_model_scores_the_end_token():
    m = GPT(n_layer=1, n_head=2, n_embd=16, context_length=16).fit(["ab", "abc", "b"], max_steps=5, **FIT)
    lp = m.log_prob(["ab"])
    tokens = torch.tensor([[m.bos_, 0, 1, m.eos_]])
    with torch.no_grad():
        ref = torch.log_softmax(m.module_.logits(tokens[:, :-1]).double(), -1).gather(-1, tokens[:, 1:, None]).sum()
    assert torch.allclose(lp, ref.reshape(1), atol=1e-5)
    samples = m.sample(20, seed=0)
    assert all(isinstance(s, str) and set(s) <= set("abc") for s in samples)


@torch.no_grad()
def test_stride_one_equals_the_sliding_context_by_brute_force(text_model):
    text = TEXT[:90]
    ids = text_model.codec_.encode(text)
    C = text_model.context_length
    ref = float(text_model.first_token_log_prob_[ids[0]])
    for t in range(1, len(ids)):
        ctx = ids[max(0, t - C):t]
        ref += float(torch.log_softmax(text_model.module_.logits(ctx[None])[0, -1].double(), -1)[ids[t]])
    assert math.isclose(float(text_model.log_prob(text, stride=1)[0]), ref, rel_tol=1e-6)
    # a text that fits the context is scored exactly whatever the stride
    short = TEXT[:C + 1]
    assert torch.allclose(text_model.log_prob(short, stride=1), text_model.log_prob(short, stride=C))


def test_stream_split_log_prob_sums_to_the_whole_text(text_model):
    from genlab.data.base import Split

    ids = text_model.codec_.encode(TEXT[:200])
    per_chunk = text_model.log_prob(Split(ids, None, text_model.codec_))
    assert len(per_chunk) == math.ceil(200 / text_model.context_length)
    assert math.isclose(float(per_chunk.sum()), float(text_model.log_prob(TEXT[:200])[0]), rel_tol=1e-9)


def test_top_k_and_top_p_never_leave_the_allowed_set():
    logits = torch.tensor([[3.0, 2.5, 1.0, 0.0, -1.0]]).expand(2000, -1)
    gen = torch.Generator().manual_seed(0)
    assert set(_choose(logits, 1.0, 2, None, gen).tolist()) == {0, 1}
    p = torch.softmax(logits[0], -1)                     # 0.50, 0.30, 0.07, ...: top_p 0.7 keeps {0, 1}
    assert p[0] < 0.7 <= p[0] + p[1]
    assert set(_choose(logits, 1.0, None, 0.7, gen).tolist()) == {0, 1}
    assert set(_choose(logits, 1.0, None, 0.3, gen).tolist()) == {0}
    assert set(_choose(logits, 1.0, 4, 0.99, gen).tolist()) <= {0, 1, 2, 3}


def test_temperature_to_zero_is_greedy_and_top_k_1_is_greedy(text_model):
    greedy = text_model.sample(2, prompt="to", max_new_tokens=20, temperature=0, seed=1)
    assert text_model.sample(2, prompt="to", max_new_tokens=20, temperature=1e-6, seed=5) == greedy
    assert text_model.sample(2, prompt="to", max_new_tokens=20, top_k=1, seed=9) == greedy


def test_same_seed_same_samples_and_stream_matches_sample(text_model):
    a = text_model.sample(3, max_new_tokens=30, seed=4)
    assert a == text_model.sample(3, max_new_tokens=30, seed=4)
    assert a != text_model.sample(3, max_new_tokens=30, seed=5)
    one = text_model.sample(1, prompt="to be", max_new_tokens=30, seed=3)[0]
    assert "to be" + "".join(text_model.stream("to be", max_new_tokens=30, seed=3)) == one


def test_stop_strings_cut_the_text(text_model):
    out = text_model.sample(4, prompt="to", max_new_tokens=120, stop=["."], seed=0)
    assert all("." not in t for t in out)
    pieces = "".join(text_model.stream("to", max_new_tokens=120, stop="."))
    assert "." not in pieces


def test_prompt_errors_and_cropping(text_model):
    with pytest.raises(InvalidParameterError, match="never saw.*'Z', 'd'"):
        text_model.sample(1, prompt="to Zed", max_new_tokens=3)
    with pytest.warns(UserWarning, match="last 32 tokens"):
        out = text_model.sample(1, prompt=TEXT[:100], max_new_tokens=3, seed=0)
    assert out[0].startswith(TEXT[100 - 32:100])
    for bad in ({"temperature": -1}, {"top_k": 0}, {"top_p": 1.5}, {"max_new_tokens": 0}):
        with pytest.raises(InvalidParameterError):
            text_model.sample(1, **bad)
    with pytest.raises(InvalidParameterError, match="conditional"):
        text_model.sample(1, condition=1)


def test_bad_data_errors():
    with pytest.raises(DataError, match="context_length"):
        GPT(context_length=10).fit(["a" * 20], max_steps=1, **FIT)
    with pytest.raises(DataError, match="grey levels"):
        GPT(context_length=64).fit(torch.rand(10, 1, 8, 8) * 0.5 + 0.001, max_steps=1, **FIT)
    with pytest.raises(InvalidParameterError, match="n_head"):
        GPT(n_embd=10, n_head=4).fit(TEXT, max_steps=1, **FIT)
    with pytest.raises(DataError, match="conditional"):
        GPT(conditional=True).fit(TEXT, max_steps=1, **FIT)


def test_save_load_round_trip(text_model, tmp_path):
    text_model.save(tmp_path / "m")
    back = genlab.load(tmp_path / "m")
    assert isinstance(back, GPT)
    assert torch.equal(back.log_prob(TEXT[:100]), text_model.log_prob(TEXT[:100]))
    assert back.sample(2, max_new_tokens=20, seed=0) == text_model.sample(2, max_new_tokens=20, seed=0)


def test_conditional_images_and_marginal_likelihood():
    data = genlab.datasets.load("digits", seed=0)
    m = GPT(n_layer=1, n_head=2, n_embd=16, context_length=64, conditional=True).fit(
        data.train[:300], max_steps=10, **FIT)
    x = data.test[:4]
    joint = torch.stack([m.log_prob(x.x, torch.full((4,), c)) + m.class_prior_[c].log() for c in range(10)])
    assert torch.allclose(m.log_prob(x.x), torch.logsumexp(joint, 0), atol=1e-6)
    assert m.sample(3, condition=[1, 2, 3], seed=0).shape == (3, 1, 8, 8)


def test_bpe_tokenizer_round_trip(tmp_path):
    m = GPT(n_layer=1, n_head=2, n_embd=16, context_length=16, tokenizer="bpe", bpe_vocab_size=300).fit(
        TEXT, max_steps=5, **FIT)
    assert type(m.codec_).__name__ == "BPECodec"
    m.save(tmp_path / "bpe")
    back = genlab.load(tmp_path / "bpe")
    assert torch.allclose(back.log_prob(TEXT[:50]), m.log_prob(TEXT[:50]))
    assert isinstance(back.sample(1, prompt="to be", max_new_tokens=5, seed=0)[0], str)
    assert m.bits_per_char(TEXT[:120]) > 0


def test_token_windows_are_the_streams_windows():
    w = TokenWindows(torch.arange(10), 4)
    assert len(w) == 7
    assert w[torch.tensor([0, 6])].tolist() == [[0, 1, 2, 3], [6, 7, 8, 9]]


def test_exact_resume_on_text_windows(tmp_path):
    from genlab.training.callbacks import StopAtStep

    kw = dict(max_steps=12, batch_size=8, checkpoint_every=4, **FIT)
    params = {"n_layer": 1, "n_head": 2, "n_embd": 16, "context_length": 16}
    full = GPT(**params).fit(TEXT, out=str(tmp_path / "a"), **kw)
    with pytest.raises(KeyboardInterrupt):
        GPT(**params).fit(TEXT, out=str(tmp_path / "b"), callbacks=[StopAtStep(6)], **kw)
    resumed = GPT(**params).fit(TEXT, out=str(tmp_path / "b"), resume=True, **kw)
    for a, b in zip(full.module_.state_dict().values(), resumed.module_.state_dict().values()):
        assert torch.equal(a, b)


def test_raw_integer_sequences_round_trip(tmp_path):
    seqs = [[1, 2, 3], [4, 5], [1, 2, 3, 4, 5, 6]] * 5
    m = GPT(n_layer=1, n_head=2, n_embd=16, context_length=16).fit(seqs, max_steps=30, **FIT)
    out = m.sample(5, seed=0, prompt=[1, 2])
    assert all(isinstance(s, list) and all(isinstance(t, int) and 0 <= t <= 6 for t in s) for s in out)
    assert all(s[:2] == [1, 2] for s in out)
    m.save(tmp_path / "ints")
    back = genlab.load(tmp_path / "ints")
    assert torch.equal(back.log_prob([[1, 2, 3]]), m.log_prob([[1, 2, 3]]))
    with pytest.raises(DataError, match="0..6"):
        m.log_prob([[9]])
