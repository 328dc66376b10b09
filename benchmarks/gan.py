"""Mode collapse on PacGAN's 2-D mixtures, and digits' class histogram: genlab's GAN settings side by side.

**Toy mixtures.** Protocol (Lin et al. 2018, PacGAN; VEEGAN's metrics): train on the
training split (80,000 of the 100,000 points ``load`` draws; PacGAN uses all 100,000) of
the 2-D ring (8 modes, radius 1, std 0.01) or grid (25 modes on {-4..4}^2, std 0.05),
draw 2,500 samples, and report over seeds the mean ± s.e. of modes captured, the
percentage of high-quality samples (within 3 std of a centre) and the reverse KL of the
mode histogram to uniform (``genlab.metrics.mode_collapse``). Published figures (PacGAN
table 2/3): plain GAN 17.3 ± 0.8 modes / 94.8% on the grid, 6.3 / 98.2% on the ring;
PacGAN4 24.8 ± 0.2 / 93.6%; VEEGAN 24.6 / 40%.

Rows (``--configs``; every row trains the same MLP players -- 3 x 256, ReLU generator,
leaky-ReLU discriminator, z in R^2, on standardised coordinates -- for the same number of
steps, the toy recipe's 25,000 by default):

- ``plain-ns``: the plain non-saturating GAN with PacGAN's optimiser (Adam lr 1e-4,
  betas (0.5, 0.999), constant learning rate, batch 128), no penalty, no EMA, no packing;
- ``toy``: the family's recommended toy recipe, ``GAN.toy_recipe``: lazy R1 (gamma 0.01 in
  standardised units, every 4th step), packing 2, Adam betas (0, 0.9), batch 256, lr 2e-3 with a cosine
  decay to 2e-5, samples from the EMA (0.999) generator;
- ``pack4``, ``pack4-r1``: PacGAN's packing, on the plain and on the toy recipe (for reference).

**Digits.** ``--digits`` trains the GAN's and the VAE's demo recipes (``cls.demo``) on
digits in one run, draws 10,000 samples of each, classifies them with the digits
classifier of ``genlab.metrics.features.extractor_for`` (trained on the training split)
and prints the class histograms, the classes present and the entropy against log 10.

    .venv/bin/python benchmarks/gan.py --seeds 10 --configs plain-ns,toy
    .venv/bin/python benchmarks/gan.py --digits
    .venv/bin/python benchmarks/gan.py --quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

ARCH = {"latent_dim": 2, "architecture": "mlp", "hidden_dims": (256, 256, 256)}
PLAIN_FIT = {"lr": 1e-4, "lr_schedule": "constant", "ema_decay": None}


def _configs() -> dict[str, dict]:
    from genlab.models.gan import GAN

    toy = GAN.toy_recipe
    return {
        "plain-ns": {"params": {**ARCH, "loss": "ns", "r1_gamma": 0.0}, "fit": PLAIN_FIT},
        "toy": {"params": {**ARCH, **toy["params"]}, "fit": {k: v for k, v in toy["fit"].items() if k != "max_steps"}},
        "pack4": {"params": {**ARCH, "loss": "ns", "pack": 4, "r1_gamma": 0.0}, "fit": PLAIN_FIT},
        "pack4-r1": {"params": {**ARCH, **toy["params"], "pack": 4},
                     "fit": {k: v for k, v in toy["fit"].items() if k != "max_steps"}},
    }


def run_one(dataset: str, config: str, seed: int, steps: int, batch: int | None, threads: int) -> dict:
    import torch

    import genlab
    from genlab.metrics.mode_collapse import mode_coverage
    from genlab.models.gan import GAN

    torch.set_num_threads(threads)
    data = genlab.datasets.load(dataset, seed=0)
    cfg = _configs()[config]
    fit = {"batch_size": 128, **cfg["fit"], **({"batch_size": batch} if batch else {})}
    t0 = time.perf_counter()
    gan = GAN(**cfg["params"]).fit(data.train, max_steps=steps, seed=seed, progress=False, **fit)
    seconds = time.perf_counter() - t0
    samples = gan.sample(2500, seed=seed)
    cov = mode_coverage(samples, data.info["centres"], data.info["std"])
    return {"dataset": dataset, "config": config, "seed": seed, "seconds": seconds, "steps": steps,
            "batch_size": fit["batch_size"], "modes": cov["modes_captured"], "n_modes": cov["n_modes"],
            "hq": 100 * cov["high_quality_fraction"], "reverse_kl": cov["reverse_kl"], "load": os.getloadavg()[0]}


def _mean_se(vals: list[float], digits: int = 2) -> str:
    v = np.asarray(vals, dtype=float)
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.{digits}f} ± {se:.{digits}f}"


def toy_table(rows: list[dict], datasets: list[str], configs: list[str]) -> str:
    header = ("| data | setting | modes captured | high-quality % | reverse KL | all modes in every seed "
              "| min HQ % | max rKL | train s (median) |")
    out = [header, "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for dataset in datasets:
        for config in configs:
            rs = [r for r in rows if r["dataset"] == dataset and r["config"] == config]
            if not rs:
                continue
            full = all(r["modes"] == r["n_modes"] for r in rs)
            out.append(f"| {dataset} | {config} | {_mean_se([r['modes'] for r in rs], 1)} "
                       f"| {_mean_se([r['hq'] for r in rs], 1)} | {_mean_se([r['reverse_kl'] for r in rs], 3)} "
                       f"| {'yes' if full else 'no'} ({sum(r['modes'] == r['n_modes'] for r in rs)}/{len(rs)}) "
                       f"| {min(r['hq'] for r in rs):.1f} | {max(r['reverse_kl'] for r in rs):.3f} "
                       f"| {np.median([r['seconds'] for r in rs]):.0f} |")
    return "\n".join(out)


def run_digits(n_samples: int, seed: int, threads: int, quick: bool) -> dict:
    """GAN and VAE demo recipes on digits: the classifier's histogram of ``n_samples`` samples each."""
    import torch

    import genlab
    from genlab.metrics.features import extractor_for
    from genlab.metrics.mode_collapse import class_coverage

    torch.set_num_threads(threads)
    data = genlab.datasets.load("digits", seed=0)
    classifier = extractor_for(data, "digits")
    out = {"classifier": classifier.id, "classifier_test_accuracy": classifier.accuracy, "n_samples": n_samples,
           "seed": seed, "rows": []}
    real = class_coverage(classifier.predict(data.test.x), 10)
    out["rows"].append({"model": "test split (real)", "seconds": 0.0, "steps": None, **real})
    for name in ("gan", "vae"):
        cls = genlab.models.get_class(name)
        params, fit = dict(cls.demo["params"]), dict(cls.demo["fit"])
        if quick:
            fit["max_steps"] = 30
        t0 = time.perf_counter()
        model = cls(**params).fit(data.train, val=data.val, seed=seed, progress=False, **fit)
        seconds = time.perf_counter() - t0
        x = model.sample(n_samples, seed=seed)
        cov = class_coverage(classifier.predict(x), 10)
        out["rows"].append({"model": name, "seconds": seconds, "steps": fit.get("max_steps"), "params": params, **cov})
    return out


def digits_table(res: dict) -> str:
    title = (f"classifier {res['classifier']} (test accuracy {res['classifier_test_accuracy']:.3f}); "
             f"{res['n_samples']:,} samples per model, seed {res['seed']}; log 10 = {math.log(10):.4f} nats")
    header = ("| model | steps | train s | classes present | entropy (nats) | entropy / log 10 | reverse KL "
              "| smallest class % | largest class % | histogram % (0..9) |")
    lines = [title, "", header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        h = [100 * q for q in r["histogram"]]
        lines.append(f"| {r['model']} | {r['steps'] or '-'} | {r['seconds']:.0f} | {r['modes_captured']}/10 "
                     f"| {r['entropy']:.4f} | {r['entropy'] / math.log(10):.4f} | {r['reverse_kl']:.4f} "
                     f"| {min(h):.1f} | {max(h):.1f} | {' '.join(f'{v:.1f}' for v in h)} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="grid,ring")
    p.add_argument("--configs", default="plain-ns,toy")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="steps of every row (default: the toy recipe's)")
    p.add_argument("--batch", type=int, default=None, help="batch of every row (default: each config's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--digits", action="store_true", help="the digits class-histogram comparison (GAN vs VAE) only")
    p.add_argument("--n-samples", type=int, default=10_000, help="digits: samples per model")
    p.add_argument("--quick", action="store_true", help="2 seeds, 300 steps (a smoke run; figures meaningless)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from genlab.models.gan import GAN

    load_before = os.getloadavg()
    t_all = time.perf_counter()
    if args.digits:
        res = run_digits(args.n_samples if not args.quick else 500, 0, args.threads, args.quick)
        print(digits_table(res))
        print(f"\nload average before {load_before}, after {os.getloadavg()} (other jobs share the machine); "
              f"{args.threads} thread(s); total {time.perf_counter() - t_all:.0f} s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({**res, "load_before": load_before, "load_after": os.getloadavg()}, f, indent=1)
        return
    if args.quick:
        args.seeds, args.steps = 2, 300
    steps = args.steps or GAN.toy_recipe["fit"]["max_steps"]
    datasets, configs = args.datasets.split(","), args.configs.split(",")
    unknown = set(configs) - set(_configs())
    if unknown:
        p.error(f"unknown configs {sorted(unknown)}; choose from {sorted(_configs())}")
    rows = []
    for dataset in datasets:
        for config in configs:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                r = run_one(dataset, config, seed, steps, args.batch, args.threads)
                rows.append(r)
                print(f"[{dataset} {config} seed {seed}] modes {r['modes']}/{r['n_modes']} hq {r['hq']:.1f}% "
                      f"rKL {r['reverse_kl']:.4f} ({r['seconds']:.0f} s, load {r['load']:.2f})", flush=True)
    print(f"\n{args.seeds} seeds, {steps} steps, 2,500 samples, {args.threads} thread(s); load average before "
          f"{load_before}, after {os.getloadavg()} (other jobs share the machine); total "
          f"{time.perf_counter() - t_all:.0f} s\n")
    for config in configs:
        cfg = _configs()[config]
        print(f"- {config}: {cfg['params']} fit {cfg['fit']}")
    print()
    print(toy_table(rows, datasets, configs))
    print("\nPublished (PacGAN, 4 x 400 MLPs): grid GAN 17.3 ± 0.8 / 94.8%, PacGAN4 24.8 ± 0.2 / 93.6%; "
          "ring GAN 6.3 / 98.2%.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "args": vars(args), "load_before": load_before, "load_after": os.getloadavg()},
                      f, indent=1)


if __name__ == "__main__":
    main()
