"""bf16 autocast vs fp32 for the VAE trainer on the CPU: throughput and quality.

    .venv/bin/python benchmarks/precision.py [--threads 2] [--steps 300]

Trains the same VAE (same seed, same batches) on the MNIST training subset in
../shared/data/mnist with ``precision="fp32"`` and ``precision="bf16"``, back to
back, for MLP and conv architectures, and prints examples/s (median over the
logged windows) and the test IWAE NLL (k=50, first 1,000 test images) of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

import genlab

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = genlab.datasets.load(str(MNIST), seed=0)
    test = data.test[:1000]
    configs = {
        "mlp": {"latent_dim": 16, "hidden_dims": (512, 256), "decoder": "logistic"},
        "conv": {"latent_dim": 16, "architecture": "conv", "hidden_dims": (256,), "conv_channels": (32, 64),
                 "decoder": "logistic"},
    }
    print(f"threads={args.threads} load_before={os.getloadavg()[0]:.2f} steps={args.steps}")
    print(f"{'arch':<6}{'precision':<10}{'examples/s':>12}{'wall s':>9}{'test NLL nats':>15}")
    rows = []
    for arch, params in configs.items():
        for precision in ("fp32", "bf16"):
            model = genlab.create("vae", **params)
            t0 = time.perf_counter()
            model.fit(data.train, max_steps=args.steps, batch_size=args.batch_size, precision=precision,
                      log_every=10, progress=False, seed=0)
            wall = time.perf_counter() - t0
            rates = [r["examples_per_s"] for r in model.history_ if "examples_per_s" in r]
            nll = -float(model.log_prob(test, n_samples=50).mean())
            rows.append({"arch": arch, "precision": precision, "examples_per_s": statistics.median(rates[1:] or rates),
                         "wall_s": wall, "test_nll_nats": nll})
            r = rows[-1]
            print(f"{arch:<6}{precision:<10}{r['examples_per_s']:>12.0f}{wall:>9.1f}{nll:>15.2f}", flush=True)
    for arch in configs:
        fp32, bf16 = (next(r for r in rows if r["arch"] == arch and r["precision"] == p) for p in ("fp32", "bf16"))
        print(f"{arch}: bf16/fp32 throughput = {bf16['examples_per_s'] / fp32['examples_per_s']:.2f}x, "
              f"NLL difference = {bf16['test_nll_nats'] - fp32['test_nll_nats']:+.2f} nats")
    print(f"load_after={os.getloadavg()[0]:.2f}")
    print(json.dumps({"benchmark": "vae_precision", "threads": args.threads, "rows": rows}))


if __name__ == "__main__":
    main()
