"""Autoregressive families: models that factorise p(x) = prod_t p(x_t | x_<t).

- :class:`GPT`: decoder-only transformer language model.
- :class:`Translator`: encoder-decoder transformer p(target sentence | source sentence)
  on a joint byte-level BPE (not in the main registry: it fits sentence pairs, not a
  dataset; see ``genlab.models.TASK_MODELS``).
"""

from genlab.models.autoregressive.gpt import GPT
from genlab.models.autoregressive.translator import BLEUResult, Translator, corpus_bleu

__all__ = ["GPT", "BLEUResult", "Translator", "corpus_bleu"]
