"""Translator: an encoder-decoder transformer p(target sentence | source sentence)."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import torch

from genlab.base import GenerativeModel
from genlab.data.bpe import BPECodec
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.autoregressive.seq2seq import Seq2SeqConfig, Seq2SeqTransformer, beam_search, greedy_search
from genlab.training import TrainConfig, Trainer
from genlab.training.distributed import world_size
from genlab.utils.random import as_generator
from genlab.utils.validation import Interval

__all__ = ["BLEUResult", "Translator", "corpus_bleu"]


@dataclass(frozen=True)
class BLEUResult:
    """Corpus BLEU from sacrebleu: ``score`` (0-100), sacrebleu's ``signature`` (how it was
    computed: tokenizer, smoothing, version), the full ``text`` line and the ``hypotheses``.
    ``float(result)`` is the score."""

    score: float
    signature: str
    text: str
    hypotheses: list[str] = field(repr=False, default_factory=list)

    def __float__(self) -> float:
        return float(self.score)


def corpus_bleu(hypotheses: list[str], references: list[str]) -> BLEUResult:
    """sacrebleu's corpus BLEU (13a tokenisation, exponential smoothing, one reference per sentence)."""
    from sacrebleu.metrics import BLEU

    hyps, refs = _sentences(hypotheses, "hypotheses"), _sentences(references, "references")
    if len(hyps) != len(refs):
        raise DataError(f"{len(hyps)} hypotheses for {len(refs)} references; give one translation per reference.")
    metric = BLEU()
    result = metric.corpus_score(hyps, [refs])
    return BLEUResult(float(result.score), str(metric.get_signature()), str(result), hyps)


class Translator(GenerativeModel):
    """Encoder-decoder transformer for translation (Vaswani et al. 2017), on a joint byte-level BPE.

    ``fit(sources, targets)`` learns a byte-level BPE of ``vocab_size`` tokens on the
    sentences of both languages, then the network by maximum likelihood (label-smoothed)
    through the shared trainer. ``translate`` decodes greedily (``beam_size=1``) or by
    beam search; ``log_prob(targets, sources)`` is the exact log p(target | source).

    Parameters
    ----------
    n_layer : int, default 3
        Transformer blocks in the encoder, and again in the decoder.
    n_head : int, default 4
        Attention heads (must divide ``n_embd``).
    n_embd : int, default 256
        Model width C (the MLPs are 4C wide).
    dropout : float, default 0.1
        Dropout on embeddings, attention weights and block outputs during training.
    vocab_size : int, default 8000
        Size of the joint source/target BPE vocabulary (with 256 byte tokens and
        ``<pad>``, ``<s>``, ``</s>``).
    max_len : int, default 128
        Training sentences are cut to this many tokens (with ``</s>``); translations
        stop after at most this many tokens.
    label_smoothing : float, default 0.1
        Training target mixes the data with this much of the uniform distribution
        (Szegedy et al. 2016); ``log_prob`` never smooths.
    tie_embeddings : bool, default True
        The output layer reuses the (shared) token embedding matrix.

    Attributes
    ----------
    module_ : Seq2SeqTransformer
        The trained network (on the CPU). ``codec_``: the :class:`~genlab.data.BPECodec`.
        ``history_``: the training log; ``n_steps_``, ``best_step_``.

    Examples
    --------
    >>> src = ["a cat", "a dog", "two cats", "two dogs"] * 4
    >>> tgt = ["eine Katze", "ein Hund", "zwei Katzen", "zwei Hunde"] * 4
    >>> model = Translator(n_layer=1, n_embd=32, dropout=0.0, vocab_size=300, label_smoothing=0.0)
    >>> model = model.fit(src, tgt, max_steps=150, batch_size=16, lr=1e-2, progress=False)
    >>> model.translate(["a cat", "two dogs"], beam_size=2)
    ['eine Katze', 'zwei Hunde']
    """

    name = "translator"
    likelihood = "exact"
    modalities = ("text",)
    _fitted_attributes = ("module_",)
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_layer": [Interval(int, 1, None)],
        "n_head": [Interval(int, 1, None)],
        "n_embd": [Interval(int, 2, None)],
        "dropout": [Interval(float, 0, 1, closed="left")],
        "vocab_size": [Interval(int, 259, None)],
        "max_len": [Interval(int, 2, None)],
        "label_smoothing": [Interval(float, 0, 1, closed="left")],
        "tie_embeddings": [bool],
    }

    def __init__(self, n_layer: int = 3, n_head: int = 4, n_embd: int = 256, dropout: float = 0.1,
                 vocab_size: int = 8000, max_len: int = 128, label_smoothing: float = 0.1,
                 tie_embeddings: bool = True):
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.dropout = dropout
        self.vocab_size = vocab_size
        self.max_len = max_len
        self.label_smoothing = label_smoothing
        self.tie_embeddings = tie_embeddings

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.n_embd % self.n_head:
            raise InvalidParameterError(
                f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head} (each head has n_embd / n_head dims).")

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, val: Any = None, callbacks=(), **training: Any) -> Translator:
        """Train on aligned sentences: ``fit(sources, targets)`` or ``fit(corpus.train)``.

        Parameters
        ----------
        X : list of str, or Pairs
            Source sentences; or an object with ``.source`` and ``.target`` lists
            (:class:`~genlab.data.translation.Pairs`), then ``y`` is omitted.
        y : list of str
            Target sentences, ``y[i]`` the translation of ``X[i]``.
        val : Pairs or (sources, targets), optional
            Validation pairs, scored (label-smoothed loss per token) every ``eval_every``
            steps and at the end.
        callbacks : sequence
            Trainer callbacks, e.g. :class:`~genlab.training.callbacks.TimeLimit`.
        **training
            :class:`~genlab.training.TrainConfig` options: ``max_steps``, ``epochs``,
            ``batch_size`` (sentence pairs per step), ``lr``, ``warmup_steps``,
            ``precision="bf16"``, ``ema_decay``, ``keep_best``, ``out``...

        Returns
        -------
        self
        """
        self._validate_params()
        cfg = TrainConfig.from_kwargs(f"{type(self).__name__}.fit()", **training)
        sources, targets = _pairs(X, y, "fit")
        val_pairs = None if val is None else _pairs(val, None, "val")
        codec = BPECodec.train(sources + targets, vocab_size=self.vocab_size)
        net_cfg = Seq2SeqConfig(vocab_size=codec.vocab_size, n_layer=self.n_layer, n_head=self.n_head,
                                n_embd=self.n_embd, dropout=float(self.dropout),
                                tie_embeddings=self.tie_embeddings, label_smoothing=float(self.label_smoothing),
                                pad_id=codec.token_id("<pad>"), bos_id=codec.token_id("<s>"),
                                eos_id=codec.token_id("</s>"))
        with torch.random.fork_rng(devices=[]):   # seeded init without touching the global RNG
            torch.manual_seed(cfg.seed)
            module = Seq2SeqTransformer(net_cfg)
        # length buckets: each training "example" of the trainer is a batch of pairs of similar lengths
        # (fairseq's batching), so little compute goes to padding; the trainer draws one bucket per step
        # (one per process under DDP, so that a step still holds batch_size pairs)
        ranks = world_size()
        size = -(-cfg.batch_size // ranks)
        train = _buckets(self._source_tensor(codec, net_cfg, sources), self._target_tensor(codec, net_cfg, targets),
                         size, cfg.seed)
        val_t = None
        if val_pairs is not None:
            val_t = _buckets(self._source_tensor(codec, net_cfg, val_pairs[0]),
                             self._target_tensor(codec, net_cfg, val_pairs[1]), size, None)
        trainer = Trainer(module, replace(cfg, batch_size=ranks), callbacks).fit(train, val_t)
        self.codec_ = codec
        self.history_ = trainer.history
        self.n_steps_ = trainer.step
        self.best_step_ = trainer.best_step
        self.module_ = module.cpu().eval()   # translate / log_prob run on the CPU copy
        return self

    def _source_tensor(self, codec: BPECodec, cfg: Seq2SeqConfig, sentences: list[str], truncate: bool = True):
        """``x_1 .. x_m </s>`` (cut to ``max_len`` tokens), zero-padded (N, S)."""
        keep = self.max_len - 1 if truncate else None
        return _padded([r[:keep] + [cfg.eos_id] for r in codec.ids(sentences)], cfg.pad_id)

    def _target_tensor(self, codec: BPECodec, cfg: Seq2SeqConfig, sentences: list[str], truncate: bool = True):
        """``<s> y_1 .. y_n </s>`` (cut to ``max_len`` predicted tokens), zero-padded (N, T)."""
        keep = self.max_len - 1 if truncate else None
        return _padded([[cfg.bos_id] + r[:keep] + [cfg.eos_id] for r in codec.ids(sentences)], cfg.pad_id)

    # ------------------------------------------------------------------ decoding
    def translate(self, sentences: str | list[str], *, beam_size: int = 4, length_penalty: float = 0.6,
                  max_len: int | None = None, batch_size: int | None = None) -> str | list[str]:
        """Translate source sentences: beam search, or greedy decoding with ``beam_size=1``.

        Parameters
        ----------
        sentences : str or list of str
            One sentence (a str is returned) or a list (a list is returned).
        beam_size : int
            Hypotheses kept per sentence (K). 1 is greedy decoding, exactly.
        length_penalty : float
            GNMT's alpha: finished hypotheses are ranked by log p / ((5 + |Y|) / 6) ** alpha;
            0 ranks by log p alone, larger values favour longer translations.
        max_len : int, optional
            Most tokens per translation; by default min(``max_len`` of the model,
            2 x the source's tokens + 10).
        batch_size : int, optional
            Sentences decoded together (default 128 greedy, 64 with beams).

        Returns
        -------
        str or list of str
        """
        self._check_fitted()
        single = isinstance(sentences, str)
        sents = _sentences(sentences, "sentences", allow_empty=True)
        _check_int(beam_size, "beam_size", 1)
        if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real) or not math.isfinite(
                length_penalty):
            raise InvalidParameterError(f"length_penalty must be a finite float (GNMT's alpha); got {length_penalty!r}.")
        out = self._generate(sents, beam_size=beam_size, alpha=float(length_penalty), max_len=max_len,
                             batch_size=batch_size)
        return out[0] if single else out

    def _limits(self, lengths: list[int], max_len: int | None) -> list[int]:
        if max_len is not None:
            return [max_len] * len(lengths)
        return [min(self.max_len, 2 * n + 10) for n in lengths]

    @torch.no_grad()
    def _generate(self, sents: list[str], *, beam_size: int = 1, alpha: float = 0.0, max_len: int | None = None,
                  batch_size: int | None = None, generator: torch.Generator | None = None,
                  temperature: float | None = None) -> list[str]:
        if max_len is not None:
            _check_int(max_len, "max_len", 1)
        if batch_size is not None:
            _check_int(batch_size, "batch_size", 1)
        if not sents:
            return []
        net, codec = self.module_, self.codec_
        cfg = net.cfg
        net.eval()
        ids = codec.ids(sents)
        limits = self._limits([len(r) for r in ids], max_len)
        bs = batch_size or (128 if beam_size == 1 else 64)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))   # similar lengths together: less padding
        results: list[list[int]] = [[] for _ in ids]
        for start in range(0, len(order), bs):
            chunk = order[start:start + bs]
            src = _padded([ids[i] + [cfg.eos_id] for i in chunk], cfg.pad_id)
            lim = torch.tensor([limits[i] for i in chunk])
            if beam_size == 1:
                hyps = greedy_search(net, src, lim, generator=generator, temperature=temperature)
            else:
                hyps = beam_search(net, src, lim, beam_size, alpha)
            for i, h in zip(chunk, hyps):
                results[i] = h
        return codec.decode_ids(results)

    @torch.no_grad()
    def sample(self, n: int, *, seed: Any = None, condition: Any = None, temperature: float = 1.0,
               max_len: int | None = None) -> list[str]:
        """Draw ``n`` translations y ~ p(y | x) of the source sentence(s) ``condition``.

        Ancestral sampling, token by token, from softmax(logits / temperature) (never
        ``<pad>`` or ``<s>``; ``</s>`` is forced at the length limit).

        Parameters
        ----------
        n : int
            Number of samples.
        seed : int, torch.Generator or None
            The same int gives the same samples.
        condition : str or list of str
            The source: one sentence (n translations of it) or n sentences (one each).
        temperature : float
            Below 1 sharpens the distribution, above 1 flattens it.

        Returns
        -------
        list of n str
        """
        self._check_fitted()
        _check_int(n, "n", 1)
        if condition is None:
            raise InvalidParameterError(
                "Translator.sample needs the source: condition='A man rides a horse.' or a list of n sentences.")
        srcs = [condition] if isinstance(condition, str) else _sentences(condition, "condition")
        if len(srcs) == 1:
            srcs = srcs * n
        if len(srcs) != n:
            raise InvalidParameterError(f"condition has {len(srcs)} sentences; give one, or n={n}.")
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
            raise InvalidParameterError(f"temperature must be a positive float; got {temperature!r}.")
        return self._generate(srcs, max_len=max_len, generator=as_generator(seed), temperature=float(temperature))

    # ------------------------------------------------------------------ likelihood
    @torch.no_grad()
    def log_prob(self, X: Any, y: Any = None, *, batch_size: int = 128) -> torch.Tensor:
        """Exact log p(target | source) in nats per sentence pair, shape (n,).

        ``log_prob(targets, sources)``, or ``log_prob(pairs)`` for an object with
        ``.source`` and ``.target``. The probability is that of the target's BPE
        tokenisation followed by ``</s>``, teacher-forced and without label smoothing
        or truncation (the string's probability summed over all its tokenisations is at
        least this).
        """
        self._check_fitted()
        if y is None and hasattr(X, "source") and hasattr(X, "target"):
            sources, targets = _pairs(X, None, "log_prob")
        elif y is None:
            raise DataError("log_prob(targets, sources) needs the source sentences too.")
        else:
            sources, targets = _pairs(y, X, "log_prob")
        _check_int(batch_size, "batch_size", 1)
        net = self.module_.eval()
        cfg = net.cfg
        out = []
        for s in range(0, len(sources), batch_size):
            src = self._source_tensor(self.codec_, cfg, sources[s:s + batch_size], truncate=False)
            tgt = self._target_tensor(self.codec_, cfg, targets[s:s + batch_size], truncate=False)
            lp, real = net.token_log_probs(src, tgt)
            out.append((lp * real).sum(1))
        return torch.cat(out)

    def likelihood_units(self) -> str:
        return "discrete"

    def bleu(self, sources: list[str], references: list[str], *, beam_size: int = 4, length_penalty: float = 0.6,
             max_len: int | None = None, batch_size: int | None = None) -> BLEUResult:
        """Translate ``sources`` and score them against ``references`` with sacrebleu's corpus BLEU.

        Returns a :class:`BLEUResult`: ``.score`` (0-100), ``.signature`` (sacrebleu's, to
        report with the score) and ``.hypotheses``.
        """
        srcs, refs = _pairs(sources, references, "bleu")
        hyps = self.translate(srcs, beam_size=beam_size, length_penalty=length_penalty, max_len=max_len,
                              batch_size=batch_size)
        return corpus_bleu(hyps, refs)

    # ------------------------------------------------------------------ state
    def _get_state(self):
        state = {"network": asdict(self.module_.cfg), "n_steps": self.n_steps_, "best_step": self.best_step_}
        return {k: v.contiguous() for k, v in self.module_.state_dict().items()}, state

    def _set_state(self, tensors, state):
        if not isinstance(self.codec_, BPECodec):
            raise ValueError(f"a Translator needs a BPE codec; codec.json holds {self.codec_!r}")  # noqa: TRY004
        module = Seq2SeqTransformer(Seq2SeqConfig(**state["network"]))
        module.load_state_dict(tensors)
        self.module_ = module.eval()
        self.n_steps_ = state.get("n_steps", 0)
        self.best_step_ = state.get("best_step")
        self.history_ = []


# ---------------------------------------------------------------------- helpers
def _check_int(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidParameterError(f"{name} must be an int >= {low}; got {value!r}.")


def _sentences(x: Any, what: str, allow_empty: bool = False) -> list[str]:
    if isinstance(x, str):
        return [x]
    if isinstance(x, (bytes, bytearray)) or not hasattr(x, "__iter__") or isinstance(x, dict):
        raise DataError(f"{what} must be a str or a list of str; got {type(x).__name__}.")
    items = list(x)
    bad = next((i for i, s in enumerate(items) if not isinstance(s, str)), None)
    if bad is not None:
        raise DataError(f"{what} must be strings; item {bad} is {type(items[bad]).__name__} ({items[bad]!r:.40}).")
    if not items and not allow_empty:
        raise DataError(f"{what} is empty; give at least one sentence.")
    return items


def _pairs(X: Any, y: Any, owner: str) -> tuple[list[str], list[str]]:
    """``(sources, targets)`` from two lists, a ``Pairs``-like object or a 2-tuple."""
    if y is None and hasattr(X, "source") and hasattr(X, "target"):
        X, y = X.source, X.target
    elif y is None and isinstance(X, tuple) and len(X) == 2:
        X, y = X
    elif y is None:
        raise DataError(f"{owner}() needs source and target sentences: ({owner}(sources, targets) or a Pairs object).")
    if isinstance(X, str) or isinstance(y, str):
        raise DataError(f"{owner}() takes lists of sentences, not a single str.")
    sources, targets = _sentences(X, "source sentences"), _sentences(y, "target sentences")
    if len(sources) != len(targets):
        raise DataError(f"{owner}() got {len(sources)} source and {len(targets)} target sentences; "
                        "they must be aligned one to one.")
    return sources, targets


def _buckets(src: torch.Tensor, tgt: torch.Tensor, size: int, seed: int | None) -> list[torch.Tensor]:
    """Pairs grouped by length into batches of ``size``: tensors (M, size, S) and (M, size, T).

    Sorted by target then source length (ties in a seeded random order); the last batch
    is filled up with empty rows, which the network skips.
    """
    n = len(src)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if seed is not None else torch.arange(n)
    key = ((tgt != 0).sum(1) * (src.shape[1] + 1) + (src != 0).sum(1))[perm]
    order = perm[key.argsort(stable=True)]
    m = -(-n // size)
    fill = m * size - n
    src = torch.cat([src[order], src.new_zeros(fill, src.shape[1])])
    tgt = torch.cat([tgt[order], tgt.new_zeros(fill, tgt.shape[1])])
    return [src.view(m, size, -1), tgt.view(m, size, -1)]


def _padded(rows: list[list[int]], pad: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out
