"""Byte-level BPE codec: subword token ids for any UTF-8 text, trained locally.

:class:`BPECodec` wraps a HuggingFace ``tokenizers`` byte-level BPE (GPT-2's scheme):
the text's UTF-8 bytes are mapped to 256 printable symbols, split on GPT-2's
pre-tokenisation pattern, and merged by the learned BPE merges. Every string, with
emoji, CJK, combining marks, ``\\r\\n``, leading or trailing spaces or nothing at all,
is encoded without an unknown token and decodes back to exactly itself.

The special tokens (``<pad>``, ``<s>``, ``</s>`` by default) take the first ids, so
the padding id is 0 as for the other sequence codecs. Text that happens to contain
``"<s>"`` is encoded as ordinary bytes, never as the special token, so a special id
only ever comes from a model.

``codec.json`` holds the tokenizer's own JSON (vocabulary and merges): the codec is
self-contained, and nothing is pickled. ``tokenizers`` is imported only when a BPE
codec is trained or built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from genlab.data.codecs import _CODECS, Codec, _is_batch, _pad, _rows
from genlab.exceptions import DataError, InvalidParameterError, MissingDependencyError

__all__ = ["BPECodec"]

DEFAULT_SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")


def _tokenizers():
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "the BPE codec needs the 'tokenizers' package: pip install tokenizers"
        ) from None
    return tokenizers


class BPECodec(Codec):
    """Text <-> byte-level BPE token ids (int64), from a HuggingFace ``tokenizers`` JSON.

    Parameters
    ----------
    tokenizer : str
        The tokenizer as JSON (``tokenizers.Tokenizer.to_str()``), as written by
        :meth:`train`. It must use the byte-level pre-tokenizer and decoder.

    ``encode`` takes one string -> int64 (T,), or a list of strings -> int64
    (N, T_max) padded with id 0 (``<pad>``; the lengths are :meth:`lengths`).
    No start or end tokens are added. ``decode`` inverts both and drops special
    tokens; give ``lengths`` to cut a batch's rows.

    Examples
    --------
    >>> codec = BPECodec.train(["low lower lowest", "new newer newest"] * 5, vocab_size=300)
    >>> codec.decode(codec.encode("lowest 😀 newer\\r\\n")) == "lowest 😀 newer\\r\\n"
    True
    >>> codec.token_id("<pad>"), codec.token_id("</s>")
    (0, 2)
    >>> x = codec.encode(["new", "lower newest"])
    >>> codec.decode(x, lengths=codec.lengths(["new", "lower newest"]))
    ['new', 'lower newest']
    """

    kind = "bpe"
    modality = "text"

    def __init__(self, tokenizer: str):
        if not isinstance(tokenizer, str) or not tokenizer:
            raise DataError("BPECodec needs the tokenizer's JSON string (tokenizers.Tokenizer.to_str()).")
        tk = _tokenizers()
        try:
            tok = tk.Tokenizer.from_str(tokenizer)
        except Exception as err:  # noqa: BLE001 - tokenizers raises a bare Exception
            raise DataError(f"BPECodec: not a valid tokenizers JSON ({err}).") from None
        pre, dec = tok.pre_tokenizer, tok.decoder
        if not isinstance(pre, tk.pre_tokenizers.ByteLevel) or not isinstance(dec, tk.decoders.ByteLevel):
            raise DataError(
                "BPECodec needs a byte-level tokenizer (ByteLevel pre-tokenizer and decoder), "
                "which round-trips any text exactly; train one with BPECodec.train."
            )
        tok.encode_special_tokens = True   # "<s>" in user text is text, not the special token
        self.tokenizer = tokenizer
        self._tok = tok
        added = tok.get_added_tokens_decoder()   # {id: AddedToken}
        self.special_tokens = [added[i].content for i in sorted(added) if added[i].special]

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000,
              special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS, min_frequency: int = 2) -> BPECodec:
        """Learn a byte-level BPE of ``vocab_size`` tokens on ``texts``.

        Parameters
        ----------
        texts : iterable of str
            Training text, e.g. the sentences of both languages for a joint vocabulary.
        vocab_size : int
            Size of the vocabulary including the 256 byte symbols and the special
            tokens (so at least ``256 + len(special_tokens)``). Fewer tokens result
            when the text has too few distinct merges.
        special_tokens : sequence of str
            Tokens with the first ids, in order (default: ``<pad>`` = 0, ``<s>`` = 1,
            ``</s>`` = 2).
        min_frequency : int
            A pair must occur this often to be merged.
        """
        specials = list(special_tokens)
        if not all(isinstance(s, str) and s for s in specials) or len(set(specials)) != len(specials):
            raise InvalidParameterError(f"special_tokens must be distinct non-empty strings; got {special_tokens!r}.")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256 + len(specials):
            raise InvalidParameterError(
                f"vocab_size must be an int >= {256 + len(specials)} (256 bytes + {len(specials)} special tokens); "
                f"got {vocab_size!r}.")
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
            raise InvalidParameterError(f"min_frequency must be a positive int; got {min_frequency!r}.")
        if isinstance(texts, str):
            raise DataError("BPECodec.train takes an iterable of strings (e.g. a list of sentences), not one string.")
        texts = list(texts)
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise DataError(f"BPECodec.train takes strings; item {bad} is {type(texts[bad]).__name__}.")
        tk = _tokenizers()
        tok = tk.Tokenizer(tk.models.BPE())
        tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                         special_tokens=specials, show_progress=False,
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok.to_str())

    # ------------------------------------------------------------------ info
    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (1,)

    def token_id(self, token: str) -> int:
        """Id of a special token (or of any token of the vocabulary)."""
        i = self._tok.token_to_id(token)
        if i is None:
            raise DataError(f"{token!r} is not a token of this BPE vocabulary; special tokens: {self.special_tokens}.")
        return i

    def _fields(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer}

    def __repr__(self) -> str:
        return f"BPECodec(vocab_size={self.vocab_size}, special_tokens={self.special_tokens})"

    # ------------------------------------------------------------------ encode / decode
    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each string, unpadded (fast batch encoding on all cores)."""
        if isinstance(texts, str):
            raise DataError("BPECodec.ids takes a list of strings; use encode() for one string.")
        texts = list(texts)
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise DataError(f"BPECodec.encode takes a string or a list of strings; item {bad} is "
                            f"{type(texts[bad]).__name__}.")
        try:
            return [e.ids for e in self._tok.encode_batch_fast(texts, add_special_tokens=False)]
        except Exception as err:  # noqa: BLE001 - e.g. lone surrogates, which are not UTF-8
            raise DataError(f"BPECodec could not encode the text ({err}); is it valid Unicode?") from None

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each string (the lengths of ``encode(texts)``'s rows)."""
        return [len(r) for r in self.ids(texts)]

    def encode(self, data: str | Sequence[str]) -> torch.Tensor:
        """One string -> int64 (T,); a list of strings -> int64 (N, T_max), zero-padded."""
        if isinstance(data, str):
            return torch.tensor(self.ids([data])[0], dtype=torch.long)
        rows = self.ids(data)
        flat = torch.tensor([i for r in rows for i in r], dtype=torch.long)
        return _pad(flat, [len(r) for r in rows])

    def decode(self, x: Any, lengths: Any = None) -> str | list[str]:
        """ids (T,) -> str; ids (N, T_max) -> list of N str, each cut to ``lengths[i]`` if given.

        Special tokens (padding, start, end) are dropped.
        """
        rows = _rows(x, lengths, self.vocab_size)
        if _is_batch(x):
            return self._tok.decode_batch(rows, skip_special_tokens=True) if rows else []
        return self._tok.decode(rows, skip_special_tokens=True)

    def decode_ids(self, rows: Sequence[Sequence[int]]) -> list[str]:
        """Lists of ids (any lengths) -> strings, special tokens dropped."""
        rows = [list(map(int, r)) for r in rows]
        return self._tok.decode_batch(rows, skip_special_tokens=True) if rows else []


_CODECS[BPECodec.kind] = BPECodec
