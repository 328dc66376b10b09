"""genlab's VAE against pythae's VAE on binarised MNIST, and genlab's VAE on digits.

Run from the repository root::

    .venv/bin/python benchmarks/vae.py                  # full run, about 5.5 min on 2 idle cores
    .venv/bin/python benchmarks/vae.py --quick          # smoke test, under a minute
    .venv/bin/python benchmarks/vae.py --only pythae --epochs 5

Section 1, MNIST (genlab vs pythae 0.1.2, ``pip install -e .[bench]``)
-------------------------------------------------------------------
Protocol, the same for both models:

- Data: the 2,243-image MNIST training subset and the full 10,000-image test set
  from ``shared/data/mnist`` (see its SOURCE.md). Images are *statically
  binarised by thresholding*, ``pixel / 255 > 0.5``. Thresholding needs no random
  numbers, so every run and every library sees the very same bits; the price is
  that the NLLs are lower (easier data) than those published for the
  stochastically binarised MNIST of Salakhutdinov & Murray (2008), so compare
  the two rows with each other, not with papers.
- Model: pythae's default MLP (``Encoder_VAE_MLP`` / ``Decoder_AE_MLP``):
  encoder 784-512-ReLU then two heads 512->16 (mean, log-variance), decoder
  16-512-ReLU-784, Bernoulli likelihood (pythae ``reconstruction_loss="bce"``,
  genlab ``decoder="bernoulli"``), latent_dim 16, standard-normal prior.
- Training: the same epochs (50 by default: the test NLL bottoms out between
  50 and 100 epochs on 2,243 images), batch size (100) and learning rate
  (1e-3); Adam (genlab: AdamW with weight_decay=0, which is Adam), constant
  learning rate and no gradient clipping (``--genlab-recipe matched``, the default:
  genlab's own defaults, a cosine schedule and clipping at 1.0, gave a worse test NLL
  here, 107.0 against 102.2 nats on 2,000 test images with k=200, because 1,150
  steps are too few for the decayed rate; ``--genlab-recipe default`` reproduces it). Both losses are the negative ELBO
  summed over pixels and averaged over the batch. Each library is seeded with
  ``--seed`` (0); the two cannot share random streams, so the NLL difference
  also holds the training-seed spread (about 0.5 nats here, see README).
  The model evaluated is the one after the last epoch (pythae also keeps a
  best-on-train deep copy; it is not used).
- Speed: seconds per epoch = the median (and the minimum) of the intervals
  between consecutive ``on_epoch_end`` callbacks of each library's own trainer
  (the first interval starts just before training is called, so it also holds
  the one-off set-up; a throwaway optimiser is built first so that neither
  pays torch's lazy imports inside an epoch). ``torch.set_num_threads(--threads)`` is set explicitly
  and ``os.getloadavg()`` is recorded before and after. On a machine where other
  processes are busy, an epoch with 2 threads can take 10x longer (each OpenMP
  parallel region waits for a descheduled thread); the minimum is then the
  steadier figure, and the script warns when the load average is >= 1.
- Likelihood: test NLL in nats per image, importance-sampled with k=1000
  samples from q(z|x) (the IWAE bound, Burda et al. 2016, eq. 8: an upper bound
  on the true NLL that tightens as k grows). Two estimates per model:

  * ``own``: each library's own estimator, genlab ``model.log_prob(x,
    n_samples=k)`` and pythae ``model.get_nll(x, n_samples=k, batch_size=k)``;
  * ``shared``: one estimator written below (``iwae_log_prob``) and applied to
    both networks, with the exact Bernoulli log-likelihood computed from logits
    ``x * l - softplus(l)``, so both rows are on one protocol.

  Quirks of pythae's ``get_nll`` (read from its source): it returns the *mean
  log-likelihood* (a negative number, despite the name), in nats per example;
  it loops over test images one at a time and re-encodes k copies of each; it
  uses ``batch_size`` samples when ``n_samples <= batch_size`` and
  ``(n_samples // batch_size) * batch_size`` otherwise; it computes
  ``log p(x|z)`` with ``F.binary_cross_entropy`` on sigmoid outputs, which
  clamps each log term at -100 and so is not exact where the sigmoid saturates;
  it draws from the global torch RNG and builds autograd graphs (called here
  under ``torch.no_grad()`` with ``torch.manual_seed(seed)``, which changes
  nothing but the speed).

Section 2, digits (genlab only)
-------------------------------
genlab's VAE with the settings of ``genlab demo`` (``VAE.demo``: conv encoder/decoder,
latent 16, the discretised categorical decoder over digits' 17 intensity levels,
3,000 steps of AdamW lr 1e-3 with weight decay 0.1, warmup and cosine, keeping the
weights of lowest validation loss, ``keep_best``) on
scikit-learn's 8x8 digits, the genlab splits (seed 0); reports test bits/dim =
-log p(x) / (64 ln 2) with k=1000 importance samples, from ``genlab.evaluate``.
This is the VAE row of the cross-family leaderboard. The settings were chosen on
the *validation* split: 1,438 training images overfit an MLP 512-256 after about
1,000 steps (val loss 95.7 nats at 1,000 steps, 109 at 3,000), while the smaller
conv net reached 91.7 at 1,500 steps.

A JSON line with every figure is printed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
try:
    import genlab
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))
    try:
        import genlab
    except ImportError:
        genlab = None

LATENT_DIM = 16
HIDDEN = 512


# ---------------------------------------------------------------------- data
def find_mnist(explicit: str | None) -> Path:
    """The MNIST folder: --data-dir, $GENLAB_MNIST, or shared/data/mnist beside or inside the repo."""
    candidates = [explicit, os.environ.get("GENLAB_MNIST"),
                  REPO.parent / "shared" / "data" / "mnist", REPO / "shared" / "data" / "mnist"]
    for c in candidates:
        if c and (Path(c) / "t10k-images-idx3-ubyte.gz").exists():
            return Path(c)
    sys.exit("MNIST not found: pass --data-dir or set GENLAB_MNIST (a folder holding the IDX .gz files).")


def load_idx_images(path: Path) -> np.ndarray:
    """uint8 (N, 28, 28) from a gzipped IDX3 file (magic 0x00000803, then 3 big-endian uint32 sizes)."""
    with gzip.open(path) as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], dtype=">u4")
    assert magic == 0x803, f"{path} is not an IDX3 uint8 image file"
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w)


def binarize(images: np.ndarray) -> torch.Tensor:
    """Static threshold binarisation: float32 (N, 1, 28, 28) in {0, 1}."""
    return torch.from_numpy((images.astype(np.float32) / 255.0 > 0.5).astype(np.float32)).unsqueeze(1)


# ------------------------------------------------------ shared NLL estimator
@torch.no_grad()
def iwae_log_prob(encode, decode_logits, x: torch.Tensor, n_samples: int, seed: int = 0,
                  batch_size: int = 50, rows: int = 4096) -> torch.Tensor:
    """log p(x) ~ log (1/k) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x) (IWAE bound).

    ``encode(x) -> (mu, logvar)`` each (B, D); ``decode_logits(z) -> (B, 784)``
    Bernoulli logits. Returns a Tensor of shape (N,) in nats. Decoder passes are
    chunked to about ``rows`` rows so that the logits stay in cache.
    """
    gen = torch.Generator().manual_seed(seed)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    out = []
    for xb in x.split(batch_size):
        B = len(xb)
        mu, logvar = encode(xb)  # (B, D)
        mu, logvar = mu.reshape(B, -1), logvar.reshape(B, -1)
        std = (0.5 * logvar).exp()
        xf = xb.reshape(B, -1)  # (B, 784)
        chunk = max(1, rows // B)
        log_w = []
        for k0 in range(0, n_samples, chunk):
            kc = min(chunk, n_samples - k0)
            eps = torch.randn(kc, B, mu.shape[1], generator=gen)  # (kc, B, D)
            z = mu + std * eps
            log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - half_log_2pi).sum(-1)  # (kc, B)
            log_pz = (-0.5 * z.pow(2) - half_log_2pi).sum(-1)
            logits = decode_logits(z.reshape(kc * B, -1)).reshape(kc, B, -1)  # (kc, B, 784)
            # exact Bernoulli: x log s(l) + (1 - x) log s(-l) = x l - softplus(l)
            log_px = (xf * logits).sum(-1) - F.softplus(logits).sum(-1)
            log_w.append(log_px + log_pz - log_q)
        log_w = torch.cat(log_w)  # (k, B)
        out.append(torch.logsumexp(log_w, 0) - math.log(n_samples))
    return torch.cat(out)


# -------------------------------------------------------------------- timing
class EpochClock:
    """Intervals between consecutive epoch ends (start() before training).

    ``times``: wall-clock seconds; ``cpu_times``: CPU seconds of this process, all
    threads (about threads x wall on free cores, about wall when other processes
    hold the cores).
    """

    def __init__(self):
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self._last = self._last_cpu = None

    def start(self):
        self._last, self._last_cpu = time.perf_counter(), time.process_time()

    def tick(self):
        now, now_cpu = time.perf_counter(), time.process_time()
        self.times.append(now - self._last)
        self.cpu_times.append(now_cpu - self._last_cpu)
        self._last, self._last_cpu = now, now_cpu


# -------------------------------------------------------------------- pythae
def run_pythae(x_train, x_test, args) -> dict:
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import CallbackHandler, TrainingCallback

    for name in list(logging.root.manager.loggerDict):  # pythae logs at INFO to the console
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)

    clock = EpochClock()

    class Tick(TrainingCallback):
        def on_epoch_end(self, training_config, **kwargs):
            clock.tick()

    class QuietTrainer(BaseTrainer):
        # BaseTrainer always adds a tqdm bar and a console printer; keep only our callbacks.
        def _setup_callbacks(self):
            self.callback_handler = CallbackHandler(callbacks=self.callbacks, model=self.model)

    train_set = BaseDataset(x_train, torch.zeros(len(x_train)))
    torch.manual_seed(args.seed)  # pythae seeds (globally) only in train(), after the weights are drawn
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT_DIM, reconstruction_loss="bce"))
    with tempfile.TemporaryDirectory(prefix="pythae_bench_") as tmp:
        config = BaseTrainerConfig(output_dir=tmp, num_epochs=args.epochs, learning_rate=args.lr,
                                   per_device_train_batch_size=args.batch_size, optimizer_cls="Adam",
                                   seed=args.seed, no_cuda=True)
        trainer = QuietTrainer(model=model, train_dataset=train_set, training_config=config, callbacks=[Tick()])
        clock.start()
        t0 = time.perf_counter()
        trainer.train()
        fit_s = time.perf_counter() - t0
    model.eval()

    def encode(x):
        out = model.encoder(x)
        return out.embedding, out.log_covariance

    hidden, last = model.decoder.layers  # (Linear 16->512, ReLU), (Linear 512->784, Sigmoid)

    def decode_logits(z):
        return last[0](hidden(z))  # the logits the Sigmoid would squash

    res = {"fit_s": fit_s, "epoch_s": clock.times, "epoch_cpu_s": clock.cpu_times}
    t0 = time.perf_counter()
    lp = iwae_log_prob(encode, decode_logits, x_test, args.n_samples, seed=0)
    res["nll_shared"] = -float(lp.mean())
    res["nll_shared_s"] = time.perf_counter() - t0
    res["_lp_shared"] = lp
    if not args.skip_own_pythae:
        torch.manual_seed(0)
        t0 = time.perf_counter()
        with torch.no_grad():
            # get_nll returns the mean log-likelihood (nats per example), hence the minus
            res["nll_own"] = -float(model.get_nll(x_test, n_samples=args.n_samples, batch_size=args.n_samples))
        res["nll_own_s"] = time.perf_counter() - t0
    return res


# -------------------------------------------------------------------- genlab
def run_genlab(x_train, x_test, args) -> dict:
    from genlab.data import ImageCodec, Split

    clock = EpochClock()

    class Tick:
        def on_epoch_end(self, trainer):
            clock.tick()

    codec = ImageCodec((1, 28, 28), levels=2)  # binary images: the Bernoulli likelihood is exact
    train, test = Split(x_train, None, codec), Split(x_test, None, codec)
    model = genlab.create("vae", latent_dim=LATENT_DIM, architecture="mlp", hidden_dims=(HIDDEN,),
                          decoder="bernoulli")
    clock.start()
    t0 = time.perf_counter()
    # --genlab-recipe default: genlab's own trainer defaults (cosine decay to 0.1 lr, clipping at 1.0);
    # matched: pythae's recipe (constant lr, no clipping). Same epochs, batch, peak lr and data either way.
    recipe = {} if args.genlab_recipe == "default" else {"lr_schedule": "constant", "grad_clip": None}
    if args.genlab_ema is not None:
        recipe["ema_decay"] = args.genlab_ema   # genlab's EMA weights (pythae has none)
    model.fit(train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=0.0, device="cpu",
              progress=False, seed=args.seed, callbacks=[Tick()], **recipe)
    fit_s = time.perf_counter() - t0
    net = model.module_.eval()
    res = {"fit_s": fit_s, "epoch_s": clock.times, "epoch_cpu_s": clock.cpu_times, "likelihood": model.likelihood}
    t0 = time.perf_counter()
    lp_own = model.log_prob(test, n_samples=args.n_samples, seed=0)  # (n,) nats, IWAE bound
    res["nll_own"] = -float(lp_own.mean())
    res["nll_own_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lp = iwae_log_prob(net.encode, net.decode, x_test, args.n_samples, seed=0)  # decode(z): logits
    res["nll_shared"] = -float(lp.mean())
    res["nll_shared_s"] = time.perf_counter() - t0
    res["_lp_shared"] = lp
    return res


def run_digits(args) -> dict:
    """The leaderboard row: genlab's VAE on digits' test split, with the demo's settings (VAE.demo)."""
    data = genlab.datasets.load("digits")
    params = dict(genlab.models.VAE.demo["params"])
    training = {**genlab.models.VAE.demo["fit"], "seed": 0}
    if args.digits_steps is not None:
        training["max_steps"] = args.digits_steps
    model = genlab.create("vae", **params)
    t0 = time.perf_counter()
    model.fit(data.train, val=data.val, device="cpu", progress=False, **training)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = genlab.evaluate(model, data.test, log_prob_kwargs={"n_samples": args.n_samples, "seed": 0})
    return {"n_train": len(data.train), "params": params, "training": training, "fit_s": fit_s,
            "eval_s": time.perf_counter() - t0, **report}


# -------------------------------------------------------------------- report
def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def print_mnist_table(rows: dict, args) -> dict:
    print(f"\nMNIST, binarised (pixel/255 > 0.5): train {args.n_train}, test {args.n_test}; "
          f"MLP 784-{HIDDEN}-{LATENT_DIM} / {LATENT_DIM}-{HIDDEN}-784, Bernoulli decoder")
    print(f"epochs {args.epochs}, batch {args.batch_size}, Adam lr {args.lr}, threads {args.threads}, "
          f"NLL with k={args.n_samples} importance samples, nats per image (lower is better)\n")
    head = (f"{'model':<8}{'s/epoch':>9}{'min s/ep':>10}{'fit s':>8}{'NLL own':>10}{'own s':>8}"
            f"{'NLL shared':>12}{'shared s':>10}")
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        r["epoch_s_median"] = statistics.median(r["epoch_s"]) if r["epoch_s"] else None
        r["epoch_s_min"] = min(r["epoch_s"]) if r["epoch_s"] else None
        r["epoch_cpu_s_median"] = statistics.median(r["epoch_cpu_s"]) if r["epoch_cpu_s"] else None
        print(f"{name:<8}{_fmt(r['epoch_s_median'], '.3f'):>9}{_fmt(r['epoch_s_min'], '.3f'):>10}"
              f"{_fmt(r['fit_s'], '.1f'):>8}"
              f"{_fmt(r.get('nll_own')):>10}{_fmt(r.get('nll_own_s'), '.0f'):>8}"
              f"{_fmt(r.get('nll_shared')):>12}{_fmt(r.get('nll_shared_s'), '.0f'):>10}")
    ratios = {}
    if "genlab" in rows and "pythae" in rows:
        g, p = rows["genlab"], rows["pythae"]
        ratios["time_genlab_over_pythae"] = g["epoch_s_median"] / p["epoch_s_median"]
        ratios["min_time_genlab_over_pythae"] = g["epoch_s_min"] / p["epoch_s_min"]
        ratios["cpu_time_genlab_over_pythae"] = g["epoch_cpu_s_median"] / p["epoch_cpu_s_median"]
        ratios["nll_shared_genlab_minus_pythae"] = g["nll_shared"] - p["nll_shared"]
        diff = p["_lp_shared"].double() - g["_lp_shared"].double()  # per test image, same images
        ratios["nll_shared_diff_sem"] = float(diff.std() / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        if p.get("nll_own") is not None:
            ratios["nll_own_genlab_minus_pythae"] = g["nll_own"] - p["nll_own"]
        print(f"\ngenlab/pythae seconds per epoch: {ratios['time_genlab_over_pythae']:.2f}x (median), "
              f"{ratios['min_time_genlab_over_pythae']:.2f}x (min); "
              f"NLL genlab - pythae: shared {ratios['nll_shared_genlab_minus_pythae']:+.2f} "
              f"(paired s.e. {ratios['nll_shared_diff_sem']:.2f}) nats"
              + (f", own {ratios['nll_own_genlab_minus_pythae']:+.2f} nats" if "nll_own_genlab_minus_pythae" in ratios else ""))
    return ratios


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="training seed of both libraries (init, batch order)")
    p.add_argument("--seeds", type=int, default=1,
                   help="repeat the MNIST comparison for seeds seed..seed+N-1 and report the mean difference")
    p.add_argument("--n-test", type=int, default=10_000, help="test images used for the NLL (first n)")
    p.add_argument("--n-samples", type=int, default=1000, help="importance samples k per test image")
    p.add_argument("--digits-steps", type=int, default=None, help="optimiser steps on digits (default: the demo's)")
    p.add_argument("--only", choices=["genlab", "pythae", "digits"], default=None,
                   help="run one part (default: genlab and pythae on MNIST, then digits)")
    p.add_argument("--skip-own-pythae", action="store_true", help="skip pythae's slow get_nll")
    p.add_argument("--data-dir", default=None, help="folder of the MNIST IDX .gz files")
    p.add_argument("--genlab-recipe", choices=["default", "matched"], default="matched",
                   help="genlab's own schedule (cosine + clipping) or pythae's (constant lr, no clipping)")
    p.add_argument("--genlab-ema", type=float, default=None,
                   help="train genlab with EMA weights of this decay (a genlab feature pythae lacks)")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 epochs, 200 test images, k=100")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.n_test, args.n_samples, args.digits_steps = 2, 200, 100, 100
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    # The first optimiser built in a process imports about 1 s of torch modules. pythae pays
    # it in BaseTrainerConfig (it builds a test optimiser), outside the timed epochs; pay it
    # here so that genlab's first epoch does not carry it either.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    parts = [args.only] if args.only else ["genlab", "pythae", "digits"]
    if genlab is None and any(p in parts for p in ("genlab", "digits")):
        sys.exit("genlab is not importable: `pip install -e .[bench]` or run with --only pythae.")
    load_before = os.getloadavg()
    if load_before[0] >= 1.0:
        print(f"warning: load average {load_before[0]:.2f} before the run: other processes compete for the "
              f"cores, and with --threads {args.threads} an epoch can take 10x longer (OpenMP threads wait "
              "for each other); compare the min column, or rerun on an idle machine.", flush=True)
    t_start = time.perf_counter()
    report: dict = {"benchmark": "vae", "torch": torch.__version__, "threads": args.threads,
                    "loadavg_before": load_before}

    mnist_rows: dict = {}
    if "genlab" in parts or "pythae" in parts:
        folder = find_mnist(args.data_dir)
        x_train = binarize(load_idx_images(folder / "train-subset-first2243-images-idx3-ubyte.gz"))
        x_test = binarize(load_idx_images(folder / "t10k-images-idx3-ubyte.gz"))[: args.n_test]
        args.n_train, args.n_test = len(x_train), len(x_test)
        per_seed, first_seed = [], args.seed
        for seed in range(first_seed, first_seed + args.seeds):
            args.seed = seed
            mnist_rows = {}
            for name in ("genlab", "pythae"):  # back to back, same process, same threads
                if name in parts:
                    print(f"[{name}] seed {seed}: training {args.epochs} epochs, then NLL on {args.n_test} "
                          "images...", flush=True)
                    mnist_rows[name] = (run_genlab if name == "genlab" else run_pythae)(x_train, x_test, args)
            ratios = print_mnist_table(mnist_rows, args)
            per_seed.append({"seed": seed, **{n: {k: v for k, v in r.items() if not k.startswith("_")}
                                               for n, r in mnist_rows.items()}, **ratios})
        args.seed = first_seed
        if args.seeds > 1 and "nll_shared_genlab_minus_pythae" in ratios:
            diffs = [r["nll_shared_genlab_minus_pythae"] for r in per_seed]
            times = [r["time_genlab_over_pythae"] for r in per_seed]
            print(f"\nover {args.seeds} seeds: genlab - pythae NLL (shared) mean {statistics.mean(diffs):+.2f} nats "
                  f"(per seed {', '.join(f'{d:+.2f}' for d in diffs)}); genlab/pythae s/epoch median "
                  f"{statistics.median(times):.2f}x")
            ratios = {"mean_nll_shared_genlab_minus_pythae": statistics.mean(diffs),
                      "median_time_genlab_over_pythae": statistics.median(times), "per_seed": per_seed}
        report["mnist"] = {"config": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                      "seed": args.seed, "genlab_recipe": args.genlab_recipe, "genlab_ema": args.genlab_ema,
                                      "latent_dim": LATENT_DIM, "hidden": HIDDEN, "n_train": args.n_train,
                                      "n_test": args.n_test, "n_samples": args.n_samples,
                                      "binarisation": "threshold 0.5"},
                           **{name: {k: v for k, v in r.items() if not k.startswith("_")}
                              for name, r in mnist_rows.items()}, **ratios}

    if "digits" in parts:
        print("\n[digits] genlab VAE with the demo's settings (categorical decoder)...", flush=True)
        d = run_digits(args)
        print(f"digits (8x8, 17 levels), train {d['n_train']}, test {d['n']}: test NLL {d['nll_nats']:.2f} "
              f"(s.e. {d['nll_nats_sem']:.2f}) nats = {d['bits_per_dim']:.4f} bits/dim "
              f"({d['likelihood']}, {d['units']}, k={args.n_samples}); fit {d['fit_s']:.1f} s, "
              f"eval {d['eval_s']:.1f} s")
        report["digits"] = d

    report["loadavg_after"] = os.getloadavg()
    report["total_s"] = time.perf_counter() - t_start
    print(f"\nload average before {load_before}, after {report['loadavg_after']}; "
          f"total {report['total_s']:.0f} s")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
