"""The ``genlab`` command: a thin layer over the Python API, one function per subcommand.

    genlab list
    genlab train vae --data digits --out runs/vae --max-steps 3000 --latent-dim 16
    genlab sample runs/vae -n 64 --seed 0 --out vae.png
    genlab evaluate runs/vae --data digits --json
    genlab info runs/vae
    genlab demo --out report

``--key value`` flags of ``train`` are the model's constructor parameters and the
training options of ``fit`` (:class:`genlab.training.TrainConfig`), with the same
names (``--latent-dim`` and ``--latent_dim`` both work). Mistakes print one line
and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (and status 2), never a usage dump."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class UsageError(Exception):
    """A mistake on the command line that argparse cannot see."""


# --------------------------------------------------------------------- flag types
def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional(conv):
    def parse(text: str):
        return None if text.lower() in ("none", "null") else conv(text)
    parse.__name__ = conv.__name__
    return parse


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 512,256; got {text!r}") from None


_int_tuple.__name__ = "list of int"


def _converter(default: Any, annotation: Any) -> Any:
    """Pick an argparse ``type`` from a default value and its annotation."""
    ann = str(annotation)
    if isinstance(default, bool) or ann == "bool":
        return _parse_bool
    if isinstance(default, tuple) or "tuple" in ann:
        return _int_tuple
    base = int if (isinstance(default, int) or ann.startswith("int")) else float if (
        isinstance(default, float) or ann.startswith("float")) else str
    return _optional(base) if (default is None or "None" in ann) else base


def _add_flags(group, names_defaults: dict[str, tuple[Any, Any]], docs: dict[str, str]) -> None:
    for name, (default, annotation) in names_defaults.items():
        flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(*flags, dest=name, type=_converter(default, annotation), default=argparse.SUPPRESS,
                           metavar=name.split("_")[-1].upper(), help=f"{docs.get(name, '')} (default: {shown})")


def _param_docs(doc: str | None) -> dict[str, str]:
    """First line of each parameter's description in a numpydoc docstring."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    for i, line in enumerate(lines):
        if " : " in line and not line.startswith(" ") and i + 1 < len(lines) and lines[i + 1].startswith(" "):
            out[line.split(" : ")[0].strip()] = lines[i + 1].strip()
    return out


# --------------------------------------------------------------------- commands
def cmd_list(args: argparse.Namespace) -> int:
    import genlab

    print("models:")
    for name in genlab.available():
        cls = genlab.models.get_class(name)
        print(f"  {name:<12} {cls.__name__:<8} likelihood={cls.likelihood}  data={','.join(cls.modalities)}")
    print("datasets:")
    for name in genlab.datasets.available():
        print(f"  {name}")
    print("  (or a path: a .csv, .npz, .txt file, an MNIST IDX folder or an image folder)")
    return 0


def _train_parser(model_name: str) -> tuple[argparse.ArgumentParser, list[str], list[str]]:
    import genlab
    from genlab.training import TrainConfig

    cls = genlab.models.get_class(model_name)
    p = _Parser(prog=f"genlab train {model_name}",
                description=f"Train a {cls.__name__} and save it to --out.")
    io = p.add_argument_group("data and output")
    io.add_argument("--data", required=True, help="dataset name (see 'genlab list') or path")
    io.add_argument("--out", required=True, help="run folder: model, checkpoints, metrics.jsonl, samples")
    io.add_argument("--data-seed", "--data_seed", dest="data_seed", type=int, default=0,
                    help="seed of the train/val/test split")
    sig = inspect.signature(cls.__init__)
    model_flags = {n: (sig.parameters[n].default, sig.parameters[n].annotation) for n in cls._param_names()}
    _add_flags(p.add_argument_group(f"{cls.__name__} hyperparameters"), model_flags, _param_docs(cls.__doc__))
    # families not trained by the gradient trainer (HMMs: EM) name the options they take
    allowed = getattr(cls, "training_options", None)
    train_fields = {f.name: (f.default, f.type) for f in dataclasses.fields(TrainConfig)
                    if f.name != "out" and (allowed is None or f.name in allowed)}
    _add_flags(p.add_argument_group("training options"), train_fields, _param_docs(TrainConfig.__doc__))
    return p, list(model_flags), list(train_fields)


def cmd_train(args: argparse.Namespace) -> int:
    import genlab

    if args.model in ("-h", "--help"):
        print("usage: genlab train MODEL --data DATA --out DIR [flags]\nmodels: " + ", ".join(genlab.available())
              + ", translator (sentence pairs: --data FOLDER --source en --target de)"
              + "\n'genlab train MODEL --help' lists the model's flags.")
        return 0
    if args.model == "translator":              # fits sentence pairs, not a dataset: its own flags
        from genlab.cli_translate import train_translator

        return train_translator(args.rest)
    parser, model_names, train_names = _train_parser(args.model)
    opts = vars(parser.parse_args(args.rest))
    params = {k: opts[k] for k in model_names if k in opts}
    training = {k: opts[k] for k in train_names if k in opts}
    data = genlab.datasets.load(opts["data"], seed=opts["data_seed"])
    model = genlab.create(args.model, **params)
    out = Path(opts["out"])
    t0 = time.perf_counter()
    model.fit(data.train, val=data.val, out=str(out), **training)
    seconds = time.perf_counter() - t0
    model.save(out)
    run = {"command": " ".join(["genlab", "train", args.model, *args.rest]),
           "model": args.model, "data": {"name": opts["data"], "seed": opts["data_seed"]},
           "params": params, "training": training, "train_seconds": round(seconds, 2),
           "steps": getattr(model, "n_steps_", None), "python": platform.python_version()}
    from genlab.utils.serialization import atomic_write_json

    atomic_write_json(out / "run.json", run)
    _write_samples(model, out / "samples" / "final.png")
    print(f"trained {args.model} on {opts['data']} in {seconds:.1f} s; saved to {out}")
    return 0


def _write_samples(model: Any, path: Path) -> None:
    modality = getattr(model.codec_, "modality", "")
    if modality == "image":
        from genlab.utils.plotting import save_image_grid

        save_image_grid(model.sample(64, seed=0), path)
    elif modality == "text":
        path.parent.mkdir(parents=True, exist_ok=True)
        samples = model.sample(4, seed=0)
        text = "\n\n".join(s if isinstance(s, str) else " ".join(map(str, s)) for s in samples)
        path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")


# flags of `genlab sample` passed to model.sample(...) when given; a model whose sample()
# has no such argument gets a usage error naming the flag
SAMPLE_FLAGS = ("condition", "mode", "length", "prompt", "max_new_tokens", "temperature", "top_k", "top_p", "stop",
                "steps", "sampler", "guidance", "eta")


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    import genlab

    model = genlab.load(args.run)
    accepted = inspect.signature(model.sample).parameters
    kwargs: dict[str, Any] = {"seed": args.seed}
    for name in SAMPLE_FLAGS:
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            raise UsageError(f"--{name.replace('_', '-')} does not apply to {type(model).__name__}; its sample() "
                             f"takes {', '.join(k for k in accepted if k not in ('n', 'seed'))}.")
        kwargs[name] = value
    if args.evidence is not None:
        kwargs["evidence"] = _parse_evidence(args.evidence)
    if args.n is None:                      # a screenful of text, a grid of anything else
        args.n = 1 if getattr(model.codec_, "modality", "") == "text" else 64
    samples = model.sample(args.n, **kwargs)
    if args.out is None:
        if not (isinstance(samples, list) and all(isinstance(t, str) for t in samples)):
            raise UsageError("--out is needed for this model's samples (.png, .npy, .csv or .txt); "
                             "only text is printed.")
        print("\n\n".join(samples))
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".png":
        if getattr(model.codec_, "modality", "") != "image":
            raise UsageError(f"--out {out}: PNG needs an image model; use .npy or .csv for this model.")
        from genlab.utils.plotting import save_image_grid

        save_image_grid(samples, out)
    elif suffix == ".npy":
        np.save(out, np.asarray(samples), allow_pickle=False)
    elif suffix == ".csv" and hasattr(samples, "to_csv"):      # a table of categories (DataFrame)
        samples.to_csv(out, index=False)
    elif suffix == ".csv":
        cols = getattr(model.codec_, "columns", None)
        arr = np.asarray(samples).reshape(len(samples), -1)
        header = ",".join(cols) if cols else ",".join(f"x{i}" for i in range(arr.shape[1]))
        np.savetxt(out, arr, delimiter=",", header=header, comments="", fmt="%.6g")
    elif suffix == ".txt":
        lines = [s if isinstance(s, str) else " ".join(map(str, s)) if isinstance(s, (list, tuple)) else str(s)
                 for s in ([samples] if isinstance(samples, str) else samples)]
        text = "\n".join(lines)
        out.write_text(text)
    else:
        raise UsageError(f"--out {out}: unknown file type {suffix!r}; use .png, .npy, .csv or .txt.")
    print(f"wrote {args.n} samples to {out}")
    return 0


def _parse_evidence(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"evidence {item!r}: write COLUMN=STATE, e.g. smoke=yes.")
        out[name] = value
    return out


def cmd_query(args: argparse.Namespace) -> int:
    import genlab

    model = genlab.load(args.run)
    if not hasattr(model, "query"):
        raise UsageError(f"{args.run} holds a {type(model).__name__}; query needs a Bayesian network.")
    evidence = _parse_evidence(args.evidence) if args.evidence else None
    if args.map:
        result: Any = model.map_query(args.variables or None, evidence=evidence)
    elif args.joint:
        if not args.variables:
            raise UsageError("--joint needs the variables to query.")
        table = model.query(args.variables, evidence=evidence, joint=True)
        result = table.to_dict(orient="records")
    else:
        margs = model.query(args.variables, evidence=evidence) if args.variables else model.all_marginals(evidence)
        result = {name: {str(k): float(v) for k, v in series.items()} for name, series in margs.items()}
    if args.json:
        print(json.dumps({"evidence": evidence, "result": result}))
        return 0
    if args.map:
        for name, state in result.items():
            print(f"{name} = {state}")
    elif args.joint:
        for row in result:
            print("  ".join(f"{k}={v}" for k, v in row.items() if k != "probability") + f"  {row['probability']:.6f}")
    else:
        for name, dist in result.items():
            print(f"{name}: " + "  ".join(f"{k} {v:.4f}" for k, v in dist.items()))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import genlab
    from genlab.utils.serialization import atomic_write_json

    model = genlab.load(args.run)
    data = genlab.datasets.load(args.data, seed=args.data_seed)
    lp_kwargs = {}
    if args.n_samples is not None:
        if "n_samples" not in inspect.signature(model.log_prob).parameters:
            kind = {"exact": "its log_prob is exact", None: "it has no log_prob"}.get(
                model.likelihood, "its log_prob takes no importance samples")
            raise UsageError(f"--n-samples (importance samples) does not apply to {type(model).__name__} ({kind}); "
                             "--samples sets how many samples the sample metrics draw.")
        lp_kwargs["n_samples"] = args.n_samples
    split = getattr(data, args.split)
    held_out = data if args.split == "test" else dataclasses.replace(data, test=split)
    report = {"run": str(args.run), "data": args.data, "split": args.split,
              **genlab.evaluate(model, held_out, n_samples=args.samples, extractor=args.extractor,
                                sample_metrics=not args.no_sample_metrics, seed=args.seed,
                                dataset=Path(str(args.data)).stem, log_prob_kwargs=lp_kwargs)}
    atomic_write_json(Path(args.run) / "eval.json", report)
    if args.json:
        print(json.dumps(report))
    else:
        width = max(map(len, report))
        for key, value in report.items():
            print(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import genlab
    from genlab.utils.serialization import read_model_folder

    config, tensors, codec = read_model_folder(args.run)
    model = genlab.load(args.run)
    n_params = sum(t.numel() for t in tensors.values())
    info = {"path": str(args.run), "model": config.get("model"), "class": config.get("class"),
            "genlab_version": config.get("genlab_version"), "likelihood": model.likelihood,
            "parameters": n_params, "hyperparameters": config.get("params"), "codec": codec,
            "steps": config.get("state", {}).get("n_steps")}
    run_json = Path(args.run) / "run.json"
    if run_json.exists():
        info["run"] = json.loads(run_json.read_text())
    if args.json:
        print(json.dumps(info))
        return 0
    for key, value in info.items():
        print(f"{key:<15} {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from genlab.compare import run_compare

    models = "all" if args.models == ["all"] else [m for part in args.models for m in part.split(",") if m]
    path = run_compare(args.data, models=models, seeds=args.seeds, budget_minutes=args.budget_minutes, out=args.out,
                       n_samples=args.samples, data_seed=args.data_seed, progress=not args.no_progress)
    print(path.read_text())
    print(f"leaderboard written to {path} (and leaderboard.json, index.html)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from genlab.demo import run_demo

    index = run_demo(args.out, quick=args.quick, progress=not args.no_progress)
    print(f"report written to {index}")
    return 0


# --------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    from genlab import __version__

    p = _Parser(prog="genlab", description="Train, sample and score generative models.")
    p.add_argument("--version", action="version", version=f"genlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    sub.add_parser("list", help="registered models and datasets").set_defaults(func=cmd_list)

    t = sub.add_parser("train", help="train a model: genlab train MODEL --data DATA --out DIR", add_help=False)
    t.add_argument("model", help="model name (see 'genlab list')")
    t.add_argument("rest", nargs=argparse.REMAINDER)
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a saved model")
    s.add_argument("run", help="model folder")
    s.add_argument("-n", type=int, default=None, help="number of samples (default 64; 1 for text models)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--out", default=None, help="output file: .png grid, .npy, .csv or .txt (text models: "
                                                "default print to the terminal)")
    s.add_argument("--condition", type=int, default=None, help="class label for conditional models")
    s.add_argument("--mode", choices=["sample", "mean"], default=None, help="VAE: draw x or show E[x|z]")
    s.add_argument("--evidence", nargs="+", default=None, metavar="COLUMN=STATE",
                   help="Bayesian network: sample given these values")
    s.add_argument("--length", type=int, default=None, help="sequence models: steps per sample")
    g = s.add_argument_group("GPT generation")
    g.add_argument("--prompt", default=None, help="text every sample continues")
    g.add_argument("--max-new-tokens", "--max_new_tokens", dest="max_new_tokens", type=int, default=None,
                   help="tokens to generate")
    g.add_argument("--temperature", type=float, default=None, help="softmax temperature (0: greedy)")
    g.add_argument("--top-k", "--top_k", dest="top_k", type=int, default=None, help="sample among the k most likely")
    g.add_argument("--top-p", "--top_p", dest="top_p", type=float, default=None, help="nucleus sampling mass")
    g.add_argument("--stop", nargs="+", default=None, help="stop strings (text models)")
    dg = s.add_argument_group("diffusion sampling")
    dg.add_argument("--steps", type=int, default=None, help="denoising steps")
    dg.add_argument("--sampler", default=None, help="ddpm, ddim or dpm++2m")
    dg.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    dg.add_argument("--eta", type=float, default=None, help="DDIM noise (0: deterministic)")
    s.set_defaults(func=cmd_sample)

    c = sub.add_parser("compare", help="train every family on one dataset and write a leaderboard")
    c.add_argument("--data", required=True, help="dataset name or path, e.g. digits or tinyshakespeare")
    c.add_argument("--models", nargs="+", default=["all"], help="families (default all that fit the data)")
    c.add_argument("--seeds", type=int, default=1, help="seeds per family (default 1)")
    c.add_argument("--budget-minutes", "--budget_minutes", dest="budget_minutes", type=float, default=5.0,
                   help="wall-clock cap per gradient-trained run (default 5)")
    c.add_argument("--samples", type=int, default=None, help="samples for the sample metrics (default: test size)")
    c.add_argument("--data-seed", "--data_seed", dest="data_seed", type=int, default=0, help="split seed")
    c.add_argument("--out", default="compare", help="output folder (default compare/)")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_compare)

    q = sub.add_parser("query", help="ask a saved Bayesian network: posteriors, MAP, all marginals")
    q.add_argument("run", help="model folder")
    q.add_argument("variables", nargs="*", help="columns to query (none: all marginals)")
    q.add_argument("--evidence", nargs="+", default=None, metavar="COLUMN=STATE", help="observed values")
    q.add_argument("--joint", action="store_true", help="the joint table of the variables, not marginals")
    q.add_argument("--map", action="store_true", help="the most probable joint state (all others summed out; "
                                                      "no variables: the most probable explanation)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_query)

    e = sub.add_parser("evaluate", help="score a saved model on held-out data")
    e.add_argument("run", help="model folder")
    e.add_argument("--data", required=True, help="dataset name or path (same as for training)")
    e.add_argument("--data-seed", "--data_seed", dest="data_seed", type=int, default=0, help="split seed (default 0)")
    e.add_argument("--split", choices=["test", "val", "train"], default="test")
    e.add_argument("--n-samples", "--n_samples", dest="n_samples", type=int, default=None,
                   help="importance samples for bound-based likelihoods (VAE default 100)")
    e.add_argument("--samples", type=int, default=None,
                   help="samples drawn for the sample metrics (default: as many as held-out examples)")
    e.add_argument("--extractor", default=None, help="feature extractor folder (default: the dataset's own, cached)")
    e.add_argument("--no-sample-metrics", action="store_true", help="likelihood only")
    e.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("run", help="model folder")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    from genlab.cli_translate import add_parsers as add_translate_parsers

    add_translate_parsers(sub)

    d = sub.add_parser("demo", help="train every family on digits and write an HTML report")
    d.add_argument("--out", default="report", help="report folder (default report/)")
    d.add_argument("--quick", action="store_true", help="a few steps per model (smoke test)")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``genlab`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_guarded(args.command, lambda: args.func(args))


def run_guarded(command: str, run: Any) -> int:
    """Run a command, turning genlab's errors into one line on stderr and an exit status:
    2 for a mistake, 1 when training diverged, 130 on Ctrl-C."""
    from genlab.exceptions import GenlabError, NonFiniteLossError

    try:
        return run()
    except NonFiniteLossError as err:   # training diverged: not a usage mistake
        print(f"genlab {command}: error: {err}", file=sys.stderr)
        return 1
    except (GenlabError, UsageError) as err:
        print(f"genlab {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genlab {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
