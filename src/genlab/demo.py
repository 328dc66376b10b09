"""``genlab demo``: train every registered family that fits images on digits and
write a report folder (``index.html``, sample grids, loss curves, a bits/dim table
and the commands that reproduce each row).

A family joins the demo by setting ``demo = {"params": {...}, "fit": {...}}`` on
its class; the budget should keep the whole demo within a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import html
import json
import platform
import time
from pathlib import Path

import torch

__all__ = ["run_demo"]


def _flag(name: str, value) -> str:
    shown = ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value
    return f"--{name.replace('_', '-')} {shown}"


def run_demo(out: str | Path = "report", *, quick: bool = False, progress: bool = True) -> Path:
    """Train the demo models on digits, score them on the test split, write ``out/index.html``.

    Parameters
    ----------
    out : path
        Report folder (created). Each model's run folder is ``out/runs/<name>``.
    quick : bool
        Train for 30 steps only (for tests); the figures are then meaningless.
    progress : bool
        Show progress bars.

    Returns
    -------
    Path of ``index.html``.
    """
    import genlab
    from genlab.utils.plotting import plot_loss_curve, save_image_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = genlab.datasets.load("digits", seed=0)
    rows, t_start = [], time.perf_counter()
    save_image_grid(data.test.x[:64], out / "data.png")
    for name in genlab.available():
        cls = genlab.models.get_class(name)
        if cls.demo is None or "image" not in cls.modalities:
            continue
        params, fit = dict(cls.demo["params"]), dict(cls.demo["fit"])
        if quick:
            fit["max_steps"] = 30
        run_dir = out / "runs" / name
        t0 = time.perf_counter()
        model = genlab.create(name, **params).fit(data.train, val=data.val, out=str(run_dir), progress=progress,
                                                  **fit)
        seconds = time.perf_counter() - t0
        model.save(run_dir)
        report = genlab.evaluate(model, data, dataset="digits")   # likelihood + sample metrics on features
        save_image_grid(model.sample(64, seed=0), out / f"{name}_samples.png")
        metrics = run_dir / "metrics.jsonl"
        has_curve = metrics.exists() and any('"loss"' in line for line in metrics.read_text().splitlines())
        if has_curve:                              # families fitted in one pass (Bayesian networks) have none
            plot_loss_curve(metrics, out / f"{name}_loss.png", title=f"{name} on digits")
        cmd = " ".join(["genlab train", name, "--data digits", f"--out runs/{name}",
                        *(_flag(k, v) for k, v in {**params, **fit}.items())])
        rows.append({"model": name, "train_seconds": round(seconds, 1), "steps": fit.get("max_steps"),
                     "loss_curve": has_curve,
                     **{k: report.get(k) for k in ("likelihood", "units", "bits_per_dim", "nll_nats", "nll_nats_sem",
                                                   "fd", "kid", "precision", "recall", "density", "coverage",
                                                   "class_entropy_bits", "c2st_accuracy", "near_copy_fraction",
                                                   "sample_seconds_per_1000", "extractor")},
                     "commands": [cmd, f"genlab evaluate runs/{name} --data digits --json",
                                  f"genlab sample runs/{name} -n 64 --seed 0 --out {name}.png"]})
    total = time.perf_counter() - t_start
    summary = {"dataset": "digits", "n_test": len(data.test), "rows": rows, "total_seconds": round(total, 1),
               "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
               "quick": quick}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    index = out / "index.html"
    index.write_text(_html(summary))
    return index


def _html(summary: dict) -> str:
    esc = html.escape
    def num(r: dict, key: str, fmt: str = "{:.3f}") -> str:
        return fmt.format(r[key]) if isinstance(r.get(key), (int, float)) else "-"

    table = "\n".join(
        f"<tr><td>{esc(r['model'])}</td><td>{num(r, 'bits_per_dim', '{:.4f}')}</td>"
        f"<td>{num(r, 'nll_nats', '{:.2f}')} ± {num(r, 'nll_nats_sem', '{:.2f}')}</td>"
        f"<td>{esc(str(r['likelihood']))} ({esc(str(r['units']))})</td>"
        + "".join(f"<td>{num(r, k)}</td>" for k in ("fd", "precision", "recall", "coverage", "class_entropy_bits",
                                                     "c2st_accuracy", "near_copy_fraction"))
        + f"<td>{r['steps']}</td><td>{r['train_seconds']}</td></tr>"
        for r in summary["rows"])
    sections = "\n".join(
        f"<h2>{esc(r['model'])}</h2><p><img src='{esc(r['model'])}_samples.png' alt='samples'> "
        + (f"<img src='{esc(r['model'])}_loss.png' alt='loss curve'>" if r.get("loss_curve", True) else "")
        + "</p>"
        f"<pre>{esc(chr(10).join(r['commands']))}</pre>" for r in summary["rows"])
    note = "<p><b>Quick mode: 30 steps per model, figures are not meaningful.</b></p>" if summary["quick"] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genlab demo report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
pre{{background:#f4f4f4;padding:.6em;overflow-x:auto}}img{{vertical-align:top;image-rendering:pixelated}}</style></head>
<body><h1>genlab demo: generative models on digits</h1>{note}
<p>scikit-learn digits: 8x8 images with 17 grey levels; {summary['n_test']} test images (split seed 0).
Bits/dim = test NLL / (64 ln 2). Discrete likelihoods (no dequantisation), so rows compare across families.
Total wall time {summary['total_seconds']} s on {summary['threads']} threads (torch {esc(summary['torch'])}).</p>
<p>Sample metrics on the 64-D features of a classifier trained on the digits training split
(extractor {esc(str(summary['rows'][0].get('extractor')) if summary['rows'] else '')}): Fréchet distance (FD), precision / recall / coverage
(k = 5), entropy of the predicted classes of the samples (log2 10 = 3.32 is uniform), classifier two-sample
accuracy (0.5: indistinguishable) and the fraction of near-copies of training images.
<code>genlab compare --data digits --seeds 3</code> gives the full leaderboard with standard deviations.</p>
<table><tr><th>model</th><th>bits/dim</th><th>NLL (nats)</th><th>likelihood</th><th>FD</th><th>precision</th><th>recall</th>
<th>coverage</th><th>class entropy</th><th>C2ST</th><th>near copies</th><th>steps</th><th>train s</th></tr>
{table}</table>
<h2>Data</h2><p><img src="data.png" alt="test images"></p>
{sections}
</body></html>
"""
