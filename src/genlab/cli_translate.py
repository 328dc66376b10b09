"""The translator's commands: ``genlab train translator`` and ``genlab translate``.

    genlab train translator --data ../shared/data/multi30k --source en --target de --out runs/translator \\
        --max-steps 2000 --precision bf16 --time-limit 1800
    genlab translate runs/translator "A man rides a horse." "Two dogs play." --beam-size 4
    genlab translate runs/translator --file sentences.en.txt > sentences.de.txt

``genlab.cli`` routes ``train translator ARGS`` to :func:`train_translator` and
``translate ARGS`` to :func:`translate` (or registers the ``translate`` subcommand with
:func:`add_parsers`). Both return the exit status: 0, 2 for a mistake (one line on
stderr), 1 when training diverged.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parsers", "train_translator", "translate"]


# ---------------------------------------------------------------------- train
def _train_parser() -> tuple[argparse.ArgumentParser, list[str], list[str]]:
    from genlab.cli import _add_flags, _param_docs, _Parser
    from genlab.models.autoregressive import Translator
    from genlab.training import TrainConfig

    p = _Parser(prog="genlab train translator",
                description="Train an encoder-decoder Translator on a parallel corpus and save it to --out.")
    io = p.add_argument_group("data and output")
    io.add_argument("--data", required=True,
                    help="folder of <split>.<lang>[.gz] sentence files, e.g. ../shared/data/multi30k")
    io.add_argument("--source", default="en", help="source language suffix (default: en)")
    io.add_argument("--target", default="de", help="target language suffix (default: de)")
    io.add_argument("--out", required=True, help="run folder: model, checkpoints, metrics.jsonl, run.json")
    io.add_argument("--time-limit", "--time_limit", dest="time_limit", type=float, default=None, metavar="SECONDS",
                    help="stop training after this much wall-clock time (the run ends cleanly; default: none)")
    io.add_argument("--bleu-beam-size", "--bleu_beam_size", dest="bleu_beam_size", type=int, default=4,
                    metavar="K", help="beam size of the validation BLEU printed at the end; 0 skips it (default: 4)")
    sig = inspect.signature(Translator.__init__)
    model_flags = {n: (sig.parameters[n].default, sig.parameters[n].annotation) for n in Translator._param_names()}
    _add_flags(p.add_argument_group("Translator hyperparameters"), model_flags, _param_docs(Translator.__doc__))
    train_fields = {f.name: (f.default, f.type) for f in dataclasses.fields(TrainConfig) if f.name != "out"}
    _add_flags(p.add_argument_group("training options"), train_fields, _param_docs(TrainConfig.__doc__))
    return p, list(model_flags), list(train_fields)


def train_translator(argv: list[str]) -> int:
    """``genlab train translator ARGS``: returns the exit status."""
    from genlab.cli import run_guarded

    parser, model_names, train_names = _train_parser()
    opts = vars(parser.parse_args(argv))
    return run_guarded("train translator", lambda: _train(opts, model_names, train_names, argv))


def _train(opts: dict[str, Any], model_names: list[str], train_names: list[str], argv: list[str]) -> int:
    from genlab.data.translation import load_parallel
    from genlab.exceptions import InvalidParameterError
    from genlab.models.autoregressive import Translator
    from genlab.training.callbacks import TimeLimit
    from genlab.utils.serialization import atomic_write_json

    params = {k: opts[k] for k in model_names if k in opts}
    training = {k: opts[k] for k in train_names if k in opts}
    if opts["time_limit"] is not None and not opts["time_limit"] > 0:
        raise InvalidParameterError(f"--time-limit must be a positive number of seconds; got {opts['time_limit']}.")
    if opts["bleu_beam_size"] < 0:
        raise InvalidParameterError(f"--bleu-beam-size must be 0 (skip) or a beam size >= 1; got {opts['bleu_beam_size']}.")
    corpus = load_parallel(opts["data"], opts["source"], opts["target"])
    model = Translator(**params)
    out = Path(opts["out"])
    limit = TimeLimit(opts["time_limit"]) if opts["time_limit"] else None
    t0 = time.perf_counter()
    model.fit(corpus.train, val=corpus.val, out=str(out), callbacks=[limit] if limit else [], **training)
    seconds = time.perf_counter() - t0
    model.save(out)
    run: dict[str, Any] = {
        "command": " ".join(["genlab", "train", "translator", *argv]), "model": "translator",
        "data": {"root": opts["data"], "source": opts["source"], "target": opts["target"],
                 "train_pairs": len(corpus.train)},
        "params": params, "training": training, "time_limit": opts["time_limit"],
        "train_seconds": round(seconds, 2), "steps": model.n_steps_,
        "parameters": model.module_.num_parameters(), "vocab_size": model.codec_.vocab_size}
    line = f"trained translator {opts['source']}->{opts['target']} ({run['parameters']:,} parameters) " \
           f"for {model.n_steps_} steps in {seconds:.1f} s; saved to {out}"
    if corpus.val is not None and opts["bleu_beam_size"] > 0:
        bleu = model.bleu(corpus.val.source, corpus.val.target, beam_size=opts["bleu_beam_size"])
        run["val_bleu"] = {"score": round(bleu.score, 2), "beam_size": opts["bleu_beam_size"],
                           "signature": bleu.signature}
        line += f"\nvalidation BLEU {bleu.score:.2f} (beam {opts['bleu_beam_size']}; sacrebleu {bleu.signature})"
    atomic_write_json(out / "run.json", run)
    print(line)
    return 0


# ---------------------------------------------------------------------- translate
def _add_translate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="folder of a trained translator (genlab train translator --out)")
    p.add_argument("sentences", nargs="*", help="sentences to translate (quote each one)")
    p.add_argument("--file", default=None, help="also translate every line of this UTF-8 file ('-': stdin)")
    p.add_argument("--beam-size", "--beam_size", dest="beam_size", type=int, default=4,
                   help="beam size; 1 is greedy decoding (default: 4)")
    p.add_argument("--length-penalty", "--length_penalty", dest="length_penalty", type=float, default=0.6,
                   help="GNMT length penalty alpha (default: 0.6)")
    p.add_argument("--max-len", "--max_len", dest="max_len", type=int, default=None,
                   help="most tokens per translation (default: 2 x source tokens + 10, at most the model's max_len)")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=None,
                   help="sentences decoded together (default: 128 greedy, 64 with beams)")


def _cmd_translate(args: argparse.Namespace) -> int:
    import genlab
    from genlab.cli import UsageError
    from genlab.models.autoregressive import Translator

    sentences = list(args.sentences)
    if args.file is not None:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(args.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise UsageError(f"--file {args.file}: cannot read it as UTF-8 text ({err}).") from None
        sentences += text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    if not sentences:
        raise UsageError('nothing to translate: give sentences, e.g. genlab translate RUN "A man rides a horse.", '
                         "or --file FILE.")
    model = genlab.load(args.run)
    if not isinstance(model, Translator):
        raise UsageError(f"{args.run} holds a {type(model).__name__}; genlab translate needs a Translator.")
    for line in model.translate(sentences, beam_size=args.beam_size, length_penalty=args.length_penalty,
                                max_len=args.max_len, batch_size=args.batch_size):
        print(line)
    return 0


def translate(argv: list[str]) -> int:
    """``genlab translate RUN SENTENCE... [--file F] [--beam-size K]``: returns the exit status."""
    from genlab.cli import _Parser, run_guarded

    p = _Parser(prog="genlab translate", description="Translate sentences with a trained translator, one per line.")
    _add_translate_args(p)
    args = p.parse_args(argv)
    return run_guarded("translate", lambda: _cmd_translate(args))


def add_parsers(sub: Any) -> None:
    """Register ``translate`` on the subparsers ``sub`` of the ``genlab`` parser (its ``func`` takes the args)."""
    p = sub.add_parser("translate", help="translate sentences with a trained translator")
    _add_translate_args(p)
    p.set_defaults(func=_cmd_translate)
