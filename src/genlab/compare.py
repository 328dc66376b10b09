"""``genlab compare``: every family on the same data, one protocol, one table.

For each registered family that models the dataset's modality (plus, for text, a
character n-gram baseline), and for each seed: train with the family's recipe (its
``compare`` or ``demo`` settings) under the same wall-clock budget, score on the same
test split with :func:`genlab.evaluate` (one feature extractor for every row), and time
sampling. Writes ``leaderboard.json`` (every run and the mean ± std over seeds),
``leaderboard.md`` and ``index.html`` (with sample grids / text samples).
"""

from __future__ import annotations

import html
import inspect
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["COLUMNS", "run_compare"]

# (key in evaluate's report, column title, format); absent keys print as "-"
COLUMNS = [
    ("bits_per_dim", "bits/dim", "{:.4f}"),
    ("fd", "FD", "{:.3f}"),
    ("kid", "KID", "{:.4f}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("density", "density", "{:.3f}"),
    ("coverage", "coverage", "{:.3f}"),
    ("class_entropy_bits", "class entropy (bits)", "{:.3f}"),
    ("c2st_accuracy", "C2ST acc.", "{:.3f}"),
    ("near_copy_fraction", "near copies", "{:.3f}"),
    ("novel_4", "novel 4-grams", "{:.3f}"),
    ("novel_8", "novel 8-grams", "{:.3f}"),
    ("train_seconds", "train s", "{:.1f}"),
    ("sample_seconds_per_1000", "sample s / 1000", "{:.3f}"),
    ("parameters", "parameters", "{:.0f}"),
]


def _families(modality: str, models: str | list[str]) -> list[tuple[str, Any]]:
    import genlab

    names = genlab.available() if models in ("all", ["all"]) else list(models)
    out = []
    for name in names:
        cls = genlab.models.get_class(name)
        recipe = getattr(cls, "compare", None) or cls.demo
        if modality in cls.modalities and recipe is not None:
            out.append((name, cls))
    if modality == "text":
        from genlab.models.ngram import CharNGram

        out.insert(0, ("ngram", CharNGram))
    return out


def _recipe(cls: Any, modality: str) -> tuple[dict, dict]:
    recipe = getattr(cls, "compare", None) or getattr(cls, "demo", None) or {}
    if isinstance(recipe, dict) and modality in recipe:          # per-modality recipes
        recipe = recipe[modality]
    return dict(recipe.get("params", {})), dict(recipe.get("fit", {}))


def _n_parameters(model: Any) -> int:
    if hasattr(model, "n_parameters"):                # models whose state is not their parameters (n-gram counts)
        return int(model.n_parameters())
    tensors, _ = model._get_state()
    return int(sum(t.numel() for t in tensors.values()))


def _fit(cls: Any, params: dict, fit: dict, data: Any, seed: int, budget_s: float | None, out: Path,
         progress: bool) -> tuple[Any, float]:
    from genlab.training.callbacks import TimeLimit

    if "random_state" in inspect.signature(cls.__init__).parameters:
        params = {**params, "random_state": seed}
    model = cls(**params)
    kwargs = dict(fit)
    allowed = getattr(cls, "training_options", None)
    if allowed is None:                                          # the gradient trainer: seed, budget, run folder
        kwargs.update(seed=seed, out=str(out), progress=progress)
        if budget_s is not None:
            kwargs["callbacks"] = [TimeLimit(budget_s)]
    elif "out" in allowed:
        kwargs["out"] = str(out)
    t0 = time.perf_counter()
    model.fit(data.train, val=data.val, **kwargs)
    return model, time.perf_counter() - t0


def _aggregate(runs: list[dict]) -> dict[str, Any]:
    keys = {k for r in runs for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    agg: dict[str, Any] = {}
    for k in sorted(keys):
        vals = [float(r[k]) for r in runs if isinstance(r.get(k), (int, float)) and math.isfinite(float(r[k]))]
        if vals:
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            agg[k] = {"mean": mean, "std": std, "n": len(vals)}
    for k in ("model", "likelihood", "units", "extractor"):
        if k in runs[0]:
            agg[k] = runs[0][k]
    return agg


def _cell(entry: Any, fmt: str) -> str:
    if not isinstance(entry, dict):
        return "-"
    text = fmt.format(entry["mean"])
    return text + (" ± " + fmt.format(entry["std"]) if entry["n"] > 1 else "")


def _markdown(summary: dict) -> str:
    rows = summary["rows"]
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    head = "| model | likelihood | " + " | ".join(c[1] for c in cols) + " |"
    sep = "|---|---|" + "---:|" * len(cols)
    lines = [f"# genlab compare: {summary['dataset']}", "",
             f"{summary['n_test']} test {'characters' if summary['modality'] == 'text' else 'examples'} "
             f"(split seed {summary['data_seed']}); seeds {summary['seeds']}; "
             f"budget {summary['budget_minutes']} min per run; mean ± std over seeds; "
             f"features: {summary.get('extractor') or 'none'}. bits/dim is exact or a bound as marked; "
             "'-' means the metric does not apply.", "", head, sep]
    for r in rows:
        kind = f"{r.get('likelihood') or 'none'}"
        lines.append(f"| {r['model']} | {kind} | " + " | ".join(_cell(r.get(k), f) for k, _, f in cols) + " |")
    lines += ["", f"Total {summary['total_seconds']} s on {summary['threads']} threads, torch {summary['torch']}."]
    return "\n".join(lines) + "\n"


def _html(summary: dict, md: str) -> str:
    esc = html.escape
    parts = []
    for r in summary["rows"]:
        name = r["model"]
        if summary["modality"] == "image":
            parts.append(f"<h2>{esc(name)}</h2><img src='{esc(name)}_samples.png' alt='samples'>")
        else:
            parts.append(f"<h2>{esc(name)}</h2><pre>{esc(summary['text_samples'].get(name, ''))}</pre>")
    table = "<pre>" + esc(md) + "</pre>"
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>genlab compare {esc(summary['dataset'])}"
            "</title><style>body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
            "pre{background:#f4f4f4;padding:.6em;overflow-x:auto}img{image-rendering:pixelated}</style></head><body>"
            f"{table}{''.join(parts)}</body></html>\n")


def run_compare(data: str, *, models: str | list[str] = "all", seeds: int = 1, budget_minutes: float | None = 5.0,
                out: str | Path = "compare", n_samples: int | None = None, data_seed: int = 0,
                progress: bool = False) -> Path:
    """Train, score and tabulate every applicable family on ``data``; returns ``out/leaderboard.md``.

    Parameters
    ----------
    data : str
        Dataset name or path (``genlab.datasets.load``).
    models : "all" or list of str
        Registered family names (families that do not model the data's modality are skipped).
    seeds : int
        Seeds 0..seeds-1 per family (training seed and sampling seed).
    budget_minutes : float or None
        Wall-clock cap per training run for gradient-trained families (EM and counting
        families finish their recipe, which takes seconds).
    out : path
        Output folder.
    n_samples : int, optional
        Samples for the sample metrics (default: the test size).
    """
    import genlab
    from genlab.utils.serialization import atomic_write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = genlab.datasets.load(data, seed=data_seed)
    name = str(data)
    if "/" in name or "." in name:                     # a path: the file's stem, or its folder for input.txt
        p = Path(name)
        name = p.parent.name if p.stem in ("input", "data", "train") and p.parent.name else p.stem.split(".")[0]
    modality = getattr(dataset.codec, "modality", dataset.modality)
    families = _families(modality, models)
    if not families:
        raise genlab.exceptions.InvalidParameterError(f"no registered family models {modality} data with a recipe; "
                                                      f"models={models!r}.")
    t_start = time.perf_counter()
    runs: dict[str, list[dict]] = {}
    text_samples: dict[str, str] = {}
    for fam, cls in families:
        params, fit = _recipe(cls, modality)
        for seed in range(seeds):
            run_dir = out / "runs" / f"{fam}-seed{seed}"
            model, seconds = _fit(cls, params, fit, dataset, seed,
                                  None if budget_minutes is None else 60.0 * budget_minutes, run_dir, progress)
            report = genlab.evaluate(model, dataset, n_samples=n_samples, seed=seed, dataset=name)
            report.update(model=fam, seed=seed, train_seconds=round(seconds, 2), parameters=_n_parameters(model),
                          recipe={"params": params, "fit": fit})
            runs.setdefault(fam, []).append(report)
            if seed == 0:
                if modality == "image":
                    from genlab.utils.plotting import save_image_grid

                    save_image_grid(model.sample(64, seed=0), out / f"{fam}_samples.png")
                elif modality == "text":
                    text_samples[fam] = "\n\n".join(str(s) for s in model.sample(2, seed=0))
    from genlab.metrics.features import check_same_extractor

    extractor = check_same_extractor([r for rs in runs.values() for r in rs])
    summary = {"dataset": name, "modality": modality, "n_test": len(dataset.test), "data_seed": data_seed,
               "seeds": list(range(seeds)), "budget_minutes": budget_minutes, "extractor": extractor,
               "rows": [_aggregate(rs) | {"model": fam} for fam, rs in runs.items()], "runs": runs,
               "text_samples": text_samples, "total_seconds": round(time.perf_counter() - t_start, 1),
               "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}
    md = _markdown(summary)
    atomic_write_json(out / "leaderboard.json", summary)
    (out / "leaderboard.md").write_text(md)
    (out / "index.html").write_text(_html(summary, md))
    return out / "leaderboard.md"
