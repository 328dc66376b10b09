"""``genlab.create("gpt")``: a GPT-style transformer for text, token sequences and pixels.

One network models three kinds of data, told apart by the data given to ``fit``:

=====================================  ==========================================  ===========================
data                                   tokens                                      ``sample`` returns
=====================================  ==========================================  ===========================
a text stream (``load("text")``, str)  characters, or byte-level BPE (``"bpe"``)   list of str
sequences (lines, SMILES, chorales)    ``[BOS] s [EOS]``, padded                   list of str / token lists
images with L grey levels              ``[BOS] + raster scan of levels``           (n, C, H, W) in [0, 1]
=====================================  ==========================================  ===========================

``log_prob`` is the exact log-probability in nats (``likelihood = "exact"``): of each
image's D pixel levels, of each sequence including its end token, and of a text under
the model's sliding context (see :meth:`GPT.log_prob`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, ClassVar

import torch

from genlab.base import GenerativeModel
from genlab.data.base import Split
from genlab.data.codecs import CharCodec, ImageCodec, IntegerCodec, TokenCodec
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.autoregressive.network import IGNORE, GPTConfig, GPTNetwork, TokenWindows
from genlab.training import TrainConfig, Trainer
from genlab.utils.random import as_generator
from genlab.utils.validation import Interval, Options

__all__ = ["GPT"]

# nanoGPT's recipe: AdamW (0.9, 0.99) (GPTNetwork.optimizer_groups), weight decay 0.1 on matrices,
# warmup then cosine to lr / 10.
TRAINING_DEFAULTS = {"lr": 1e-3, "weight_decay": 0.1, "warmup_steps": 100, "min_lr_ratio": 0.1, "grad_clip": 1.0,
                     "batch_size": 32}


class GPT(GenerativeModel):
    """Decoder-only transformer (GPT-2 layout: pre-norm blocks, learned positions, tied head).

    Parameters
    ----------
    n_layer : int, default 4
        Transformer blocks.
    n_head : int, default 4
        Attention heads (must divide ``n_embd``).
    n_embd : int, default 128
        Width C of the residual stream.
    context_length : int, default 256
        Positions the model sees (nanoGPT's ``block_size``). Sequences and images must
        fit with their start token: ``1 + max length <= context_length`` (64 for digits:
        the start token and the first 63 pixels predict the 64 pixels).
    dropout : float, default 0.0
        Dropout on embeddings, attention weights and residual branches.
    bias : bool, default True
        Biases in linear layers and LayerNorms.
    tokenizer : {"auto", "bpe"}, default "auto"
        ``"auto"``: the data's own tokens (characters of a text, a sequence codec's
        tokens, pixel grey levels). ``"bpe"``: a byte-level BPE of ``bpe_vocab_size``
        tokens trained on the training text (text streams only), saved in ``codec.json``.
    bpe_vocab_size : int, default 1024
        Vocabulary of the BPE (with ``tokenizer="bpe"``).
    conditional : bool, default False
        Learn p(x | y) from class labels (images and sequences): each class has its own
        start token. ``sample(condition=labels)``; without labels ``log_prob`` gives p(x).

    Attributes
    ----------
    module_ : GPTNetwork
        The trained network. ``kind_``: ``"stream"``, ``"sequences"`` or ``"image"``;
        ``codec_``: the data codec; ``history_``: training log.

    Examples
    --------
    >>> import genlab
    >>> gpt = genlab.create("gpt", n_layer=1, n_embd=16, n_head=2, context_length=16)
    >>> _ = gpt.fit("to be or not to be, " * 20, max_steps=5, progress=False)
    >>> len(gpt.sample(2, prompt="to ", max_new_tokens=10, seed=0)[0])
    13
    """

    name = "gpt"
    likelihood = "exact"
    modalities = ("text", "sequence", "image")
    _fitted_attributes = ("module_",)
    demo: ClassVar[dict[str, Any]] = {
        "params": {"n_layer": 4, "n_head": 4, "n_embd": 128, "context_length": 64, "dropout": 0.1},
        "fit": {"max_steps": 1000, "batch_size": 32, "lr": 1e-3, "warmup_steps": 100, "weight_decay": 0.1,
                "eval_every": 250, "keep_best": True, "precision": "bf16"}}
    # genlab compare: the demo recipe on images; on text nanoGPT's CPU model with a 128-character
    # context in bf16 (the compare budget's TimeLimit may end it early)
    compare: ClassVar[dict[str, Any]] = {
        "image": demo,
        "text": {"params": {"n_layer": 4, "n_head": 4, "n_embd": 128, "context_length": 128},
                 "fit": {"max_steps": 3000, "batch_size": 16, "precision": "bf16"}},
    }
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_layer": [Interval(int, 1, None)],
        "n_head": [Interval(int, 1, None)],
        "n_embd": [Interval(int, 1, None)],
        "context_length": [Interval(int, 2, None)],
        "dropout": [Interval(float, 0, 1, closed="left")],
        "bias": [bool],
        "tokenizer": [Options("auto", "bpe")],
        "bpe_vocab_size": [Interval(int, 257, None)],
        "conditional": [bool],
    }

    def __init__(self, n_layer: int = 4, n_head: int = 4, n_embd: int = 128, context_length: int = 256,
                 dropout: float = 0.0, bias: bool = True, tokenizer: str = "auto", bpe_vocab_size: int = 1024,
                 conditional: bool = False):
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.context_length = context_length
        self.dropout = dropout
        self.bias = bias
        self.tokenizer = tokenizer
        self.bpe_vocab_size = bpe_vocab_size
        self.conditional = conditional

    # ------------------------------------------------------------------ data -> tokens
    def _read(self, X: Any, y: Any = None) -> tuple[str, Any, Any, torch.Tensor | None]:
        """Classify the data: ``(kind, codec, payload, labels)``; payload is a stream (T,),
        a list of (T_i,) sequences, or images (N, C, H, W) in model space."""
        from genlab.base import _labels

        if isinstance(X, str):
            if not X:
                raise DataError("the training text is empty.")
            codec = CharCodec.fit(X)
            return "stream", codec, codec.encode(X), None
        if isinstance(X, (list, tuple)) and X and all(isinstance(s, str) for s in X):
            codec = CharCodec.fit("".join(X))
            seqs = [codec.encode(s) for s in X]
            return "sequences", codec, seqs, _labels(y, len(seqs))
        if _is_int_sequences(X):
            seqs = [torch.as_tensor(s, dtype=torch.long).reshape(-1) for s in X]
            if any(len(s) == 0 for s in seqs):
                raise DataError("every sequence needs at least one token.")
            if any(int(s.min()) < 0 for s in seqs):
                raise DataError("integer tokens must be non-negative (0..V-1).")
            codec = self.codec_ if getattr(self, "codec_", None) is not None and \
                isinstance(self.codec_, IntegerCodec) else IntegerCodec.fit(seqs)
            return "sequences", codec, seqs, _labels(y, len(seqs))
        if isinstance(X, Split):
            labels = _labels(X.y if y is None else y, len(X))
            if X.lengths is not None:
                return "sequences", X.codec, X.sequences(), labels
            if X.x.ndim == 1:
                if len(X.x) == 0:
                    raise DataError("the training text is empty.")
                return "stream", X.codec, X.x, None
            if isinstance(X.codec, ImageCodec):
                return "image", X.codec, X.x, labels
            raise DataError(f"GPT models text, token sequences and images with grey levels; got {X!r} "
                            f"with codec {X.codec!r}.")
        x, labels, codec = self._training_data(X, y)
        if not isinstance(codec, ImageCodec):
            raise DataError(f"GPT models text, token sequences and images; a tensor of shape {tuple(x.shape)} "
                            "was read as a table. Give a str, a list of str, images (N, C, H, W) or a Split.")
        return "image", codec, x, labels

    def _levels(self, codec: ImageCodec) -> int:
        if not codec.levels:
            raise DataError("GPT needs images with a known number of grey levels (e.g. digits' 17, MNIST's 256); "
                            "these images are continuous. Quantise them first.")
        return int(codec.levels)

    def _image_tokens(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> (N, 1 + D): start token, then raster-scanned levels."""
        levels = self.codec_.to_levels(x).reshape(len(x), -1).long()
        return torch.cat([self._bos(labels, len(x)), levels], dim=1)

    def _sequence_tokens(self, seqs: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        """Sequences -> (N, T_max + 2): start token, the tokens, end token, then -1 padding."""
        longest = max(len(s) for s in seqs)
        out = torch.full((len(seqs), longest + 2), IGNORE, dtype=torch.long)
        out[:, :1] = self._bos(labels, len(seqs))
        for i, s in enumerate(seqs):
            out[i, 1:1 + len(s)] = s.long()
            out[i, 1 + len(s)] = self.eos_
        return out

    def _bos(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        if labels is None:
            return torch.full((n, 1), self.bos_, dtype=torch.long)
        return (self.bos_ + labels.long()).reshape(-1, 1)

    def _check_fits(self, length: int, what: str) -> None:
        if length > self.context_length:
            raise DataError(f"{what} needs {length} positions (with its start token) but context_length="
                            f"{self.context_length}; set context_length={length} or more.")

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, val: Any = None, callbacks=(), **training: Any) -> GPT:
        """Train on a text, sequences or images (see the module docstring).

        Parameters
        ----------
        X : str, list of str, Split, or images (N, C, H, W)
            Training data. A text stream is cut into windows of ``context_length + 1``
            tokens at random offsets (nanoGPT's batches, drawn without replacement).
        y : array of int, optional
            Class labels (N,), for ``conditional=True``.
        val : same kinds as X, optional
            Validation data, scored every ``eval_every`` steps (a text in
            non-overlapping windows).
        callbacks : sequence
            Trainer callbacks.
        **training
            :class:`~genlab.training.TrainConfig` options. GPT defaults: lr 1e-3, 100
            warm-up steps, cosine to lr/10, weight decay 0.1, gradient clip 1, batch 32,
            AdamW betas (0.9, 0.99).
        """
        self._validate_params()
        if self.n_embd % self.n_head:
            raise InvalidParameterError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}.")
        cfg = TrainConfig.from_kwargs(f"{type(self).__name__}.fit()", **{**TRAINING_DEFAULTS, **training})
        kind, codec, payload, labels = self._read(X, y)
        if self.conditional and (kind == "stream" or labels is None):
            raise DataError("conditional=True needs labelled images or sequences (fit(X, y) or a labelled Split).")
        if self.tokenizer == "bpe" and kind != "stream":
            raise InvalidParameterError("tokenizer='bpe' applies to a text stream; this data is "
                                        f"{kind} and keeps its own tokens (tokenizer='auto').")
        self.kind_ = kind
        labels = labels if self.conditional else None
        self.n_classes_ = int(labels.max()) + 1 if self.conditional else 0
        self.class_prior_ = (torch.bincount(labels, minlength=self.n_classes_).float() / len(labels)
                             if self.conditional else None)
        n_starts = max(1, self.n_classes_)
        if kind == "stream":
            if self.tokenizer == "bpe":
                from genlab.data.bpe import BPECodec

                text = codec.decode(payload)
                codec = BPECodec.train([text], vocab_size=self.bpe_vocab_size)
                payload = codec.encode(text)
            self.codec_ = codec
            vocab = n_out = codec.vocab_size
            self.bos_ = self.eos_ = -1
            counts = torch.bincount(payload, minlength=vocab).double() + 1.0     # Laplace: the first token
            self.first_token_log_prob_ = (counts / counts.sum()).log().float()
            length = min(self.context_length + 1, len(payload))
            if length < 2:
                raise DataError("the training text has a single token; give at least two.")
            train = [TokenWindows(payload, length)]
        elif kind == "sequences":
            self.codec_ = codec
            base = codec.vocab_size
            self.eos_, self.bos_ = base, base + 1
            vocab, n_out = base + 1 + n_starts, base + 1          # outputs: the tokens and the end token
            self._check_fits(1 + max(len(s) for s in payload), "the longest training sequence plus its end token")
            train = [self._sequence_tokens(payload, labels)]
        else:
            self.codec_ = codec
            levels = self._levels(codec)
            self.bos_, self.eos_ = levels, -1
            vocab, n_out = levels + n_starts, levels               # outputs: the grey levels
            self._check_fits(int(math.prod(codec.event_shape)), "an image (one token per pixel)")
            train = [self._image_tokens(payload, labels)]
        self.vocab_size_ = vocab
        val_t = None if val is None else [self._val_tokens(val)]
        net_cfg = GPTConfig(vocab, self.context_length, self.n_layer, self.n_head, self.n_embd, float(self.dropout),
                            self.bias, n_out)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = GPTNetwork(net_cfg)
        trainer = Trainer(module, cfg, callbacks).fit(train, val_t)
        self.module_ = module.cpu().eval()
        self.history_ = trainer.history
        self.n_steps_ = trainer.step
        self.best_step_ = trainer.best_step
        return self

    def _val_tokens(self, val: Any) -> torch.Tensor:
        """Validation data -> token rows for the trainer's loss."""
        kind, codec, payload, labels = self._read(val)
        if kind != self.kind_:
            raise DataError(f"validation data is {kind} but the training data was {self.kind_}.")
        if kind == "stream":
            ids = self._encode_stream(val if isinstance(val, str) else codec.decode(payload)) \
                if codec != self.codec_ else payload
            w = min(self.context_length + 1, len(ids))
            n = len(ids) // w
            return ids[: n * w].reshape(n, w)          # non-overlapping windows, as nanoGPT's eval
        if self.conditional and labels is None:
            raise DataError("validation data for a conditional GPT needs labels.")
        labels = labels if self.conditional else None
        if kind == "sequences":
            return self._sequence_tokens(self._to_codec(payload, codec), labels)
        return self._image_tokens(payload, labels)

    def _to_codec(self, seqs: list[torch.Tensor], codec: Any) -> list[torch.Tensor]:
        if isinstance(codec, IntegerCodec) and isinstance(self.codec_, IntegerCodec):
            if any(len(s) and int(s.max()) >= self.codec_.vocab_size for s in seqs):
                raise DataError(f"tokens must be integers in 0..{self.codec_.vocab_size - 1} for this model.")
            return seqs
        if codec == self.codec_:
            return seqs
        if isinstance(codec, CharCodec) and isinstance(self.codec_, CharCodec):
            return [self.codec_.encode(codec.decode(s)) for s in seqs]
        if isinstance(codec, TokenCodec) and isinstance(self.codec_, TokenCodec):
            return [self.codec_.encode(codec.decode(s)) for s in seqs]
        raise DataError(f"this model was trained on data with codec {self.codec_!r}; the data given has {codec!r}.")

    def _encode_stream(self, text: str) -> torch.Tensor:
        return self.codec_.encode(text).long()

    # ------------------------------------------------------------------ generation
    def _check_sampling(self, temperature: float, top_k: int | None, top_p: float | None) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
            raise InvalidParameterError(f"temperature must be a number >= 0 (0 is greedy); got {temperature!r}.")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InvalidParameterError(f"top_k must be a positive int or None; got {top_k!r}.")
        if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                                  or not 0 < top_p <= 1):
            raise InvalidParameterError(f"top_p must be in (0, 1] or None; got {top_p!r}.")

    def _prompt_tokens(self, prompt: Any, n: int, labels: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        """The context every sample starts from, (n, P)."""
        if self.kind_ == "stream":
            if prompt is None or prompt == "":
                first = torch.multinomial(self.first_token_log_prob_.exp(), n, replacement=True, generator=gen)
                return first.reshape(n, 1)
            ids = self._prompt_ids(prompt)
            return ids.expand(n, -1).clone()
        start = self._bos(labels, n)
        if prompt is None or (isinstance(prompt, (str, list, tuple)) and len(prompt) == 0):
            return start
        if self.kind_ == "image":
            raise InvalidParameterError("prompt applies to text and sequence models; for images use condition=.")
        return torch.cat([start, self._prompt_ids(prompt).expand(n, -1)], dim=1)

    def _prompt_ids(self, prompt: Any) -> torch.Tensor:
        if isinstance(self.codec_, IntegerCodec):
            ids = self.codec_.encode(list(prompt))
        elif isinstance(self.codec_, TokenCodec):
            if isinstance(prompt, str):
                prompt = prompt.split()
            ids = self.codec_.encode(list(prompt))
        else:
            if not isinstance(prompt, str):
                raise InvalidParameterError(f"prompt must be a str for this model; got {type(prompt).__name__}.")
            if isinstance(self.codec_, CharCodec):
                unknown = sorted(set(prompt) - set(self.codec_.vocab))
                if unknown:
                    raise InvalidParameterError(
                        f"the prompt has characters this model never saw in training: {', '.join(map(repr, unknown))}."
                        " Remove or replace them.")
            ids = self.codec_.encode(prompt)
        ids = ids.long().reshape(1, -1)
        keep = self.context_length - (0 if self.kind_ == "stream" else 1)
        if ids.shape[1] > keep:
            warnings.warn(f"the prompt has {ids.shape[1]} tokens, more than the context of {self.context_length}; "
                          f"only its last {keep} tokens are used.", UserWarning, stacklevel=3)
            ids = ids[:, -keep:]
        return ids

    @torch.no_grad()
    def generate_tokens(self, context: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                        top_k: int | None = None, top_p: float | None = None, seed: Any = None,
                        use_cache: bool = True) -> Iterator[torch.Tensor]:
        """Yield the next token of every row, (B,), ``max_new_tokens`` times.

        ``context`` (B, P) int64 holds the tokens to continue. With ``use_cache`` the
        keys and values of past positions are kept (KV cache), so each step costs one
        position; once the sequence is longer than ``context_length`` every step
        re-reads the last ``context_length`` tokens (the model's sliding context), as
        nanoGPT's ``generate`` does at every step.
        """
        self._check_fitted()
        self._check_sampling(temperature, top_k, top_p)
        gen = as_generator(seed)
        net, C = self.module_, self.context_length
        seq = context.long()
        caches = net.new_caches(len(seq)) if use_cache else None
        fresh = seq[:, -C:]                                         # positions not yet in the cache
        for _ in range(max_new_tokens):
            if caches is not None and caches[0].length + fresh.shape[1] <= C:
                logits = net.logits(fresh, caches)[:, -1]
            else:                                                   # past the context: the last C tokens
                caches = None
                logits = net.logits(seq[:, -C:])[:, -1]
            nxt = _choose(logits.float(), temperature, top_k, top_p, gen)   # (B,)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            fresh = nxt[:, None]
            yield nxt

    @torch.no_grad()
    def sample(self, n: int, *, seed: Any = None, condition: Any = None, prompt: Any = None,
               max_new_tokens: int | None = None, length: int | None = None, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, stop: Any = None,
               use_cache: bool = True) -> Any:
        """Draw ``n`` samples (batched, with a KV cache).

        Parameters
        ----------
        n : int
            Number of samples.
        seed : int, torch.Generator or None
            The same int gives the same samples.
        condition : int or array of int, optional
            Class labels of a conditional model (one, or n); None draws them from the
            training frequencies.
        prompt : str or list of tokens, optional
            Text (or tokens) every sample continues; it is part of the returned text.
            A prompt longer than the context keeps its last tokens (with a warning);
            characters outside the vocabulary raise an error naming them.
        max_new_tokens : int, optional
            Tokens to generate: default 256 for text; for sequences the generation
            also stops at the end token (default limit: the context).
        length : int, optional
            Alias of ``max_new_tokens`` (the CLI's ``--length``).
        temperature : float
            Divides the logits; 0 is greedy decoding.
        top_k : int, optional
            Sample only among the k most likely tokens.
        top_p : float, optional
            Nucleus sampling: the smallest set of tokens whose probability reaches p.
        stop : str or list of str, optional
            Text only: cut each sample before the first stop string after the prompt, and
            end generation when every sample has one.
        use_cache : bool
            Use the KV cache (False recomputes the whole context every step; for
            benchmarks).

        Returns
        -------
        list of str (text, character sequences), list of token lists (token sequences),
        or images (n, C, H, W) in [0, 1].
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterError(f"n must be a positive int; got {n!r}.")
        if length is not None:
            if max_new_tokens is not None and max_new_tokens != length:
                raise InvalidParameterError("give max_new_tokens or length, not both.")
            max_new_tokens = length
        if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
                                           or max_new_tokens < 1):
            raise InvalidParameterError(f"max_new_tokens must be a positive int; got {max_new_tokens!r}.")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if stops and self.kind_ != "stream":
            raise InvalidParameterError("stop strings apply to text models; sequences end at their end token.")
        gen = as_generator(seed)
        labels = self._labels_for(condition, n, gen)
        context = self._prompt_tokens(prompt, n, labels, gen)
        P = context.shape[1]
        if self.kind_ == "image":
            new = int(math.prod(self.codec_.event_shape))
        elif self.kind_ == "sequences":
            new = max_new_tokens or max(1, self.context_length - P)
        else:
            new = max_new_tokens or 256
        out = [context]
        done = torch.zeros(n, dtype=torch.bool)
        prompt_text = self.codec_.decode(context[0]) if (stops and self.kind_ == "stream") else ""
        for step, tok in enumerate(self.generate_tokens(context, new, temperature=temperature, top_k=top_k,
                                                        top_p=top_p, seed=gen, use_cache=use_cache)):
            if self.kind_ == "sequences":
                tok = torch.where(done, torch.full_like(tok, self.eos_), tok)
                done |= tok == self.eos_
            out.append(tok[:, None])
            if self.kind_ == "sequences" and bool(done.all()):
                break
            if stops and (step + 1) % 8 == 0:
                texts = self.codec_.decode(torch.cat(out, dim=1))
                if all(any(s in t[len(prompt_text):] for s in stops) for t in texts):
                    break
        tokens = torch.cat(out, dim=1)                              # (n, P + generated)
        return self._decode(tokens, P, stops)

    def _decode(self, tokens: torch.Tensor, P: int, stops: list[str]) -> Any:
        if self.kind_ == "image":
            levels = tokens[:, 1:].reshape(len(tokens), *self.codec_.event_shape).float()
            return self.codec_.decode(levels / (self.codec_.levels - 1))
        if self.kind_ == "stream":
            texts = self.codec_.decode(tokens)
            if stops:
                prompt_len = len(self.codec_.decode(tokens[0, :P]))
                texts = [_cut(t, prompt_len, stops) for t in texts]
            return texts
        rows = []
        for row in tokens[:, 1:]:                                   # drop the start token
            ends = (row == self.eos_).nonzero()
            row = row[: int(ends[0]) if len(ends) else len(row)]
            rows.append(self.codec_.decode(row))
        return rows

    def stream(self, prompt: str | None = None, *, max_new_tokens: int = 256, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, stop: Any = None,
               seed: Any = None) -> Iterator[str]:
        """Generate one text piece by piece: yields the new text as it is produced.

        Text models only. The pieces joined are the generated text (without the
        prompt), cut before the first ``stop`` string. BPE pieces are yielded once
        they decode to whole characters.
        """
        self._check_fitted()
        if self.kind_ != "stream":
            raise InvalidParameterError("stream() generates text; this model was trained on "
                                        f"{self.kind_}. Use sample().")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        gen = as_generator(seed)
        context = self._prompt_tokens(prompt, 1, None, gen)
        new_ids: list[int] = []
        emitted = ""
        if prompt in (None, ""):
            new_ids.append(int(context[0, 0]))
        for tok in self.generate_tokens(context, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                                        seed=gen):
            new_ids.append(int(tok[0]))
            text = self.codec_.decode(torch.tensor(new_ids))
            if text.endswith("\ufffd"):                             # a partial UTF-8 character (BPE)
                continue
            hit = min((text.find(s) for s in stops if s in text), default=-1)
            if hit >= 0:
                if hit > len(emitted):
                    yield text[len(emitted):hit]
                return
            if len(text) > len(emitted):
                yield text[len(emitted):]
                emitted = text

    # ------------------------------------------------------------------ likelihood
    @torch.no_grad()
    def log_prob(self, X: Any, y: Any = None, *, stride: int | None = None, batch_size: int = 64) -> torch.Tensor:
        """Exact log-probability in nats, per example.

        - Images: log p(x) of the D pixel levels (x discrete: no dequantisation), (n,);
          ``-log_prob / (D ln 2)`` is bits/dim. A conditional model without labels
          gives log p(x) = log sum_c p(c) p(x | c).
        - Sequences (list of str, token lists, or a Split with lengths): log p of the
          tokens and the end token, (n,).
        - Text (a str, a list of str for a text model, or a text-stream Split): the
          first token under the training token frequencies, then each token given the
          ones before it. A text of up to ``context_length + 1`` tokens is scored
          exactly. Longer text is scored with windows moved by ``stride`` tokens
          (default ``context_length // 2``): every token then sees between
          ``context_length - stride`` and ``context_length`` tokens of context.
          ``stride=1`` gives each token exactly the last ``context_length`` tokens,
          the distribution ``sample`` draws from. A str gives (1,), a list of str
          (n,), a Split stream one value per ``context_length`` tokens (their sum is
          the whole stream's log-probability).
        """
        self._check_fitted()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidParameterError(f"batch_size must be a positive int; got {batch_size!r}.")
        if self.kind_ == "stream":
            return self._stream_log_prob(X, stride, batch_size)
        if self.kind_ == "image":
            payload, labels = self._eval_data(X, y)               # checks the images against the codec
            make = self._image_tokens
        else:
            kind, codec, payload, labels = self._read(X, y)
            if kind != self.kind_:
                raise DataError(f"this model was trained on {self.kind_}; the data given is {kind}.")
            payload = self._to_codec(payload, codec)
            make = self._sequence_tokens
        labels = labels if self.conditional else None
        if self.conditional and labels is None:           # p(x) = sum_c p(c) p(x | c)
            per_class = torch.stack([
                self._score(make, payload, torch.full((len(payload),), c, dtype=torch.long), batch_size)
                + self.class_prior_[c].log() for c in range(self.n_classes_)])
            return torch.logsumexp(per_class, dim=0)
        return self._score(make, payload, labels if self.conditional else None, batch_size)

    def _score(self, make, payload, labels, batch_size: int) -> torch.Tensor:
        out = []
        for s in range(0, len(payload), batch_size):
            tokens = make(payload[s:s + batch_size], None if labels is None else labels[s:s + batch_size])
            out.append(self.module_.token_log_probs(tokens).double().sum(dim=1))
        return torch.cat(out)

    def _stream_log_prob(self, X: Any, stride: int | None, batch_size: int) -> torch.Tensor:
        C = self.context_length
        if stride is None:
            stride = max(1, C // 2)
        if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= C:
            raise InvalidParameterError(f"stride must be an int in 1..context_length={C}; got {stride!r}.")
        if isinstance(X, Split):
            if X.x.ndim != 1:
                raise DataError("this model was trained on a text stream; give text or a text-stream Split.")
            ids = X.x.long() if X.codec == self.codec_ else self._encode_stream(X.codec.decode(X.x))
            per_token = self._token_log_probs(ids, stride, batch_size)
            return torch.stack([c.sum() for c in torch.split(per_token, C)])
        texts = [X] if isinstance(X, str) else X
        if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise DataError("log_prob of a text model takes a non-empty str, a list of non-empty str, "
                            "or a text-stream Split.")
        return torch.stack([self._token_log_probs(self._encode_stream(t), stride, batch_size).sum() for t in texts])

    def _token_log_probs(self, ids: torch.Tensor, stride: int, batch_size: int) -> torch.Tensor:
        """log p of every token of one stream (T,): the first under the unigram, the rest in windows."""
        C, T = self.context_length, len(ids)
        out = torch.zeros(T, dtype=torch.float64)
        out[0] = self.first_token_log_prob_[ids[0]]
        if T == 1:
            return out
        # window k reads inputs ids[s_k : s_k + C] and predicts targets s_k + 1 .. s_k + C (the last window
        # stops at T - 1); the first window keeps all its targets, the others only the new ones
        starts = [0]
        while starts[-1] + C < T - 1:
            starts.append(starts[-1] + stride)
        full = [s for s in starts if s + C <= T - 1]
        ragged = [s for s in starts if s + C > T - 1]               # at most one: the last window
        scored = []
        for b in range(0, len(full), batch_size):
            chunk = full[b:b + batch_size]
            lp = self.module_.token_log_probs(torch.stack([ids[s:s + C + 1] for s in chunk])).double()   # (b, C)
            scored += list(zip(chunk, lp))
        scored += [(s, self.module_.token_log_probs(ids[s:][None]).double()[0]) for s in ragged]
        done = 0                                                    # targets 1..done are scored
        for s, row_lp in scored:
            targets = torch.arange(s + 1, s + 1 + len(row_lp))
            keep = targets > done
            out[targets[keep]] = row_lp[keep]
            done = int(targets[-1])
        return out

    def bits_per_char(self, text: str, *, stride: int | None = None) -> float:
        """Bits per character of a text: ``-log_prob(text) / (len(text) ln 2)``."""
        return float(-self.log_prob(text, stride=stride)[0]) / (len(text) * math.log(2))

    def perplexity(self, text: str, *, stride: int | None = None) -> float:
        """Perplexity per token of a text: ``exp(-log_prob(text) / n_tokens)``."""
        return math.exp(float(-self.log_prob(text, stride=stride)[0]) / len(self._encode_stream(text)))

    def likelihood_units(self) -> str:
        """Always ``"discrete"``: tokens and grey levels are discrete."""
        return "discrete"

    # ------------------------------------------------------------------ state
    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {k: v.contiguous() for k, v in self.module_.state_dict().items() if k != "lm_head.weight"}
        if self.kind_ == "stream":
            tensors["__first_token_log_prob"] = self.first_token_log_prob_
        if self.conditional:
            tensors["__class_prior"] = self.class_prior_
        state = {"network": asdict(self.module_.cfg), "kind": self.kind_, "bos": self.bos_, "eos": self.eos_,
                 "n_classes": self.n_classes_, "n_steps": self.n_steps_, "best_step": self.best_step_}
        return tensors, state

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.first_token_log_prob_ = tensors.pop("__first_token_log_prob", None)
        self.class_prior_ = tensors.pop("__class_prior", None)
        module = GPTNetwork(GPTConfig(**state["network"]))
        module.load_state_dict({**tensors, "lm_head.weight": tensors["wte.weight"]})
        self.module_ = module.eval()
        self.kind_, self.bos_, self.eos_ = state["kind"], state["bos"], state["eos"]
        self.n_classes_ = state["n_classes"]
        self.vocab_size_ = module.cfg.vocab_size
        self.n_steps_ = state.get("n_steps", 0)
        self.best_step_ = state.get("best_step")
        self.history_ = []


def _choose(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
            gen: torch.Generator) -> torch.Tensor:
    """Next tokens (B,) from logits (B, V): greedy at temperature 0, else a filtered softmax draw."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens before it already reach top_p (the first is always kept)
        drop = (probs.cumsum(dim=-1) - probs) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


def _is_int_sequences(X: Any) -> bool:
    """A list of integer sequences (lists, tuples, 1-D int arrays or tensors): raw tokens."""
    if not isinstance(X, (list, tuple)) or not X:
        return False
    first = X[0]
    if isinstance(first, torch.Tensor):
        return first.ndim == 1 and not first.is_floating_point()
    if isinstance(first, (list, tuple)):
        return all(isinstance(t, int) and not isinstance(t, bool) for t in first)
    return hasattr(first, "dtype") and getattr(first, "ndim", 0) == 1 and first.dtype.kind in "iu"


def _cut(text: str, start: int, stops: list[str]) -> str:
    hits = [text.find(s, start) for s in stops]
    hits = [h for h in hits if h >= 0]
    return text[: min(hits)] if hits else text

