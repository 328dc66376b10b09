"""genlab's diffusion models against HuggingFace diffusers on the same UNet, and on digits.

Run from the repository root (diffusers is a bench-only dependency: ``pip install -e .[bench]``)::

    .venv/bin/python benchmarks/diffusion.py                      # everything, ~17 min on 2 idle cores
    .venv/bin/python benchmarks/diffusion.py --quick              # smoke test, ~2 min
    .venv/bin/python benchmarks/diffusion.py --only train,sample --sizes 8,16

1. ``train``: training step time. The network is the one the issue names,
   ``UNet2DModel(block_out_channels=(32, 64), layers_per_block=1, attention on the second
   level)`` (``DownBlock2D, AttnDownBlock2D`` / ``AttnUpBlock2D, UpBlock2D``, one input
   and output channel, 701,345 parameters), and genlab's ``nn.unet.UNet`` with the same
   widths, blocks and parameter count (equal, not just within 10%). Rows:

   - ``default``: each library's default attention heads (diffusers: 8 channels per head,
     ``attention_head_dim=8``; genlab: 64, ADM's choice). This is the issue's comparison.
   - ``heads 8`` and ``heads 64``: both libraries with the same heads, so the ratio is
     the implementation alone.

   Each network runs the same loop (``same_loop_step``): batch of 64 images, t ~ U{0..999}
   and eps ~ N(0, I), x_t, the network, MSE on eps, backward, ``torch.optim.AdamW(lr=1e-4)``.
   Batches of 64 at 8x8 (digits), 16x16 and 28x28 (MNIST). The two libraries alternate in
   blocks of ``--block`` steps after a warm-up, so drifting machine load hits both; the
   figure is the median time per step (wall clock), and the CPU seconds per step are
   printed too (a contended machine shows as CPU < threads x wall). ``--precision bf16``
   (default: both) adds the same under ``torch.autocast(bfloat16)``.
   A last row, ``end to end``, times each library's own training step at 8x8: genlab's
   ``Diffusion.fit`` (its trainer: AdamW, clipping, EMA, logging; median interval between
   ``on_batch_end`` callbacks) against the loop of diffusers' ``train_unconditional.py``
   example (``DDPMScheduler.add_noise``, ``clip_grad_norm_(1.0)``, AdamW, ``EMAModel``).

2. ``sample``: wall time to draw 64 samples from the same networks (random weights: the
   time does not depend on them) with DDIM 50 steps, DPM-Solver++(2M) 20 steps and DDPM
   1000 steps: genlab's ``Diffusion.sample`` (including its data decoding) against
   diffusers' scheduler loop (``DDIMScheduler``, ``DPMSolverMultistepScheduler(solver_order=2,
   algorithm_type="dpmsolver++")``, ``DDPMScheduler``, cosine betas, ``for t in
   scheduler.timesteps: eps = unet(x, t).sample; x = scheduler.step(eps, t, x).prev_sample``
   under ``torch.no_grad()``), at 8x8 and 16x16, each the median of ``--sample-repeats``.

3. ``quality``: genlab's diffusion model trained on digits with the demo's settings
   (``Diffusion.demo``; its wall time is the demo's budget), then:

   - test bits/dim of the variational bound (``log_prob``: every one of the 999 denoising
     terms, ``n_terms=None``, and the default stratified 100) and its terms;
   - sample quality against the number of steps (10, 20, 50, 100, 1000) for DPM-Solver++(2M),
     DDIM and DDPM: Fréchet distance, precision/recall/coverage on genlab's digits
     feature extractor (``genlab.metrics``, the features ``genlab.evaluate`` uses), the
     share of samples that the extractor's classifier (trained on the digits training
     split) labels with confidence > 0.9, and the entropy of the predicted class
     histogram (log2 10 = 3.32 bits is uniform); the validation images, scored the same
     way against the test images, are the reference row (the extractor was trained on the
     training split, whose images therefore score unlike unseen ones). ``--n-eval`` samples
     per row (default: the 179 test images).

Threads: ``--threads`` (2) sets ``torch.set_num_threads``; ``os.getloadavg()`` is recorded
before and after. A JSON line with every figure is printed at the end.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
try:
    import genlab
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))
    import genlab

from genlab.models.diffusion.schedules import make_schedule
from genlab.nn.unet import UNet, UNetConfig

CHANNELS, BATCH, T = (32, 64), 64, 1000


# ---------------------------------------------------------------------- networks
def diffusers_unet(size: int, head_dim: int):
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=size, in_channels=1, out_channels=1, block_out_channels=CHANNELS,
                       layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=head_dim)


def genlab_unet(head_dim: int) -> UNet:
    return UNet(UNetConfig(1, 1, channels=CHANNELS, layers_per_block=1, attention_levels=(1,), head_dim=head_dim))


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------- 1. training
def same_loop_step(forward, opt, x0, sqrt_abar, sqrt_1m, gen, bf16: bool) -> None:
    """One training step of the eps objective, identical for both libraries."""
    t = torch.randint(0, T, (len(x0),), generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    x_t = sqrt_abar[t].view(-1, 1, 1, 1) * x0 + sqrt_1m[t].view(-1, 1, 1, 1) * eps
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = forward(x_t, t)
    loss = F.mse_loss(out.float(), eps)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def time_pair(fns: dict, n_steps: int, block: int, warmup: int) -> dict:
    """Alternate the callables in blocks of ``block`` calls; per-call wall and CPU seconds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(max(1, n_steps // block)):
        for k, fn in fns.items():
            for _ in range(block):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
    return {k: {"median_s": statistics.median(wall[k]), "min_s": min(wall[k]),
                "cpu_s": statistics.median(cpu[k]), "n": len(wall[k])} for k in fns}


def bench_train(args) -> list[dict]:
    sched = make_schedule("cosine", T)
    sqrt_abar, sqrt_1m = sched.alphas_cumprod.sqrt().float(), (1 - sched.alphas_cumprod).sqrt().float()
    rows = []
    configs = [("default", 8, 64), ("heads 8", 8, 8), ("heads 64", 64, 64)]
    for precision in args.precisions:
        for size in args.sizes:
            x0 = torch.rand(BATCH, 1, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
            for label, d_heads, g_heads in configs:
                torch.manual_seed(0)
                d_net, g_net = diffusers_unet(size, d_heads), genlab_unet(g_heads)
                fns = {}
                for name, net, fwd in (("diffusers", d_net, lambda x, t, n=d_net: n(x, t).sample),
                                       ("genlab", g_net, lambda x, t, n=g_net: n(x, t))):
                    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
                    gen = torch.Generator().manual_seed(1)
                    fns[name] = functools.partial(same_loop_step, fwd, opt, x0, sqrt_abar, sqrt_1m, gen,
                                                  precision == "bf16")
                steps = args.train_steps if size <= 16 else max(4, args.train_steps // 4)
                res = time_pair(fns, steps, args.block if size <= 16 else 2, warmup=2)
                row = {"section": "train", "size": size, "precision": precision, "config": label,
                       "heads_dim": {"diffusers": d_heads, "genlab": g_heads},
                       "params": {"diffusers": n_params(d_net), "genlab": n_params(g_net)}, **res,
                       "ratio": res["diffusers"]["median_s"] / res["genlab"]["median_s"],
                       "cpu_ratio": res["diffusers"]["cpu_s"] / res["genlab"]["cpu_s"]}
                rows.append(row)
                print(f"train {size:>2}x{size:<2} {precision} {label:9s} diffusers "
                      f"{1e3 * res['diffusers']['median_s']:7.1f} ms"
                      f" (cpu {1e3 * res['diffusers']['cpu_s']:6.1f})  genlab {1e3 * res['genlab']['median_s']:7.1f} ms"
                      f" (cpu {1e3 * res['genlab']['cpu_s']:6.1f})  steps/s ratio genlab/diffusers {row['ratio']:.2f}"
                      f" (cpu {row['cpu_ratio']:.2f})  params {n_params(d_net):,} / {n_params(g_net):,}", flush=True)
    return rows


def bench_end_to_end(args) -> dict:
    """Each library's own training step at 8x8 (digits), batch 64, fp32."""
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    data = genlab.datasets.load("digits", seed=0)
    n = args.train_steps + 5
    # genlab: Diffusion.fit with its defaults (EMA 0.995, clipping 1.0, warmup, cosine lr), the benchmark's UNet
    stamps: list[float] = []

    class Clock:
        def on_batch_end(self, trainer):
            stamps.append(time.perf_counter())

    model = genlab.create("diffusion", channels=CHANNELS, attention_levels=(1,))
    model.fit(data.train, max_steps=n, batch_size=BATCH, progress=False, callbacks=[Clock()], device="cpu")
    g_step = statistics.median(b - a for a, b in itertools.pairwise(stamps[4:]))
    # diffusers: the loop of examples/unconditional_image_generation/train_unconditional.py (accelerate left out)
    torch.manual_seed(0)
    unet = diffusers_unet(8, 8)
    sched = DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2")
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4, weight_decay=1e-6)
    ema = EMAModel(unet.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=0.75)
    x_all = data.train.x * 2 - 1
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        clean = x_all[torch.randint(0, len(x_all), (BATCH,))]
        noise = torch.randn(clean.shape)
        timesteps = torch.randint(0, T, (BATCH,)).long()
        noisy = sched.add_noise(clean, noise, timesteps)
        loss = F.mse_loss(unet(noisy, timesteps).sample.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        ema.step(unet.parameters())
        times.append(time.perf_counter() - t0)
    d_step = statistics.median(times[5:])
    print(f"train end to end 8x8: diffusers example loop {1e3 * d_step:.1f} ms/step (heads of 8), genlab Diffusion.fit "
          f"{1e3 * g_step:.1f} ms/step (heads of 64, EMA, clipping, logging); ratio {d_step / g_step:.2f}", flush=True)
    return {"section": "train_end_to_end", "size": 8, "diffusers_s": d_step, "genlab_s": g_step,
            "ratio": d_step / g_step}


# ---------------------------------------------------------------------- 2. sampling
@torch.no_grad()
def diffusers_sample(unet, scheduler, steps: int, size: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((BATCH, 1, size, size), generator=gen)
    scheduler.set_timesteps(steps)
    for t in scheduler.timesteps:
        eps = unet(x, t).sample
        x = scheduler.step(eps, t, x, generator=gen).prev_sample
    return x


def bench_sample(args) -> list[dict]:
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    common = {"num_train_timesteps": T, "beta_schedule": "squaredcos_cap_v2"}
    kinds = [("ddim", 50, lambda: DDIMScheduler(**common, clip_sample=True, timestep_spacing="trailing")),
             ("dpm++2m", 20, lambda: DPMSolverMultistepScheduler(**common, solver_order=2,
                                                                  algorithm_type="dpmsolver++")),
             ("ddpm", 1000, lambda: DDPMScheduler(**common, clip_sample=True))]
    rows = []
    data = genlab.datasets.load("digits", seed=0)
    for size in [s for s in args.sizes if s <= 16]:
        for label, d_heads, g_heads in [("default", 8, 64), ("heads 8", 8, 8)]:
            torch.manual_seed(0)
            unet = diffusers_unet(size, d_heads).eval()
            model = _genlab_model_for(size, g_heads, data)
            for name, steps, make in kinds:
                if name == "ddpm" and not args.ddpm:
                    continue
                reps = 1 if name == "ddpm" else args.sample_repeats
                fns = {"diffusers": lambda u=unet, m=make, s=steps, z=size: diffusers_sample(u, m(), s, z, 0),
                       "genlab": functools.partial(model.sample, BATCH, steps=steps, sampler=name, seed=0)}
                res = time_pair(fns, reps, 1, warmup=0 if name == "ddpm" else 1)
                row = {"section": "sample", "size": size, "config": label, "sampler": name, "steps": steps, **res,
                       "ratio": res["diffusers"]["median_s"] / res["genlab"]["median_s"],
                       "cpu_ratio": res["diffusers"]["cpu_s"] / res["genlab"]["cpu_s"]}
                rows.append(row)
                print(f"sample {size:>2}x{size:<2} {label:8s} {name:8s} {steps:>4} steps, 64 samples: diffusers "
                      f"{res['diffusers']['median_s']:6.2f} s (cpu {res['diffusers']['cpu_s']:6.2f})  genlab "
                      f"{res['genlab']['median_s']:6.2f} s (cpu {res['genlab']['cpu_s']:6.2f})  "
                      f"ratio {row['ratio']:.2f}"
                      f" (cpu {row['cpu_ratio']:.2f})", flush=True)
    return rows


def _genlab_model_for(size: int, head_dim: int, data):
    """A fitted Diffusion model with the benchmark UNet on size x size images (one training step:
    sampling time does not depend on the weights)."""
    x = torch.nn.functional.interpolate(data.train.x[:64], size=(size, size), mode="nearest")
    return genlab.create("diffusion", channels=CHANNELS, attention_levels=(1,), head_dim=head_dim).fit(
        x, max_steps=1, batch_size=64, progress=False)


# ---------------------------------------------------------------------- 3. quality on digits
def bench_quality(args) -> dict:
    from genlab.metrics.features import extractor_for

    data = genlab.datasets.load("digits", seed=0)
    cls = genlab.models.Diffusion
    params, fit = dict(cls.demo["params"]), {**cls.demo["fit"], "seed": 0}
    if args.quick:
        fit["max_steps"] = 100
    model = genlab.create("diffusion", **params)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(data.train, val=data.val, progress=False, device="cpu", **fit)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    out: dict = {"section": "quality", "params": params, "fit": fit, "fit_seconds": fit_s, "fit_cpu_seconds": fit_cpu}
    print(f"quality: trained the demo recipe ({fit['max_steps']} steps, batch {fit['batch_size']}) in {fit_s:.1f} s "
          f"(CPU {fit_cpu:.1f} s)", flush=True)
    # likelihood: the bound with every term, and with the default 100 strata
    from genlab.models.diffusion.bound import variational_bound

    net = model.module_
    for n_terms in ([None, 100] if not args.quick else [100]):
        t0 = time.perf_counter()
        lp, terms = variational_bound(lambda xt, t: net.denoise(xt, t), net.to_model(data.test.x), net.schedule,
                                      net.output_kind, levels=17, clip=1.0, n_terms=n_terms,
                                      generator=torch.Generator().manual_seed(0), return_terms=True)
        seconds = time.perf_counter() - t0
        bpd = -float(lp.mean()) / (64 * math.log(2))
        se = float(lp.std() / math.sqrt(len(lp))) / (64 * math.log(2))
        parts = {k: float(v.mean()) / (64 * math.log(2)) for k, v in terms.items()}
        key = "all" if n_terms is None else str(n_terms)
        out[f"bits_per_dim_{key}"] = bpd
        out[f"bits_per_dim_{key}_se"] = se
        out[f"bits_per_dim_{key}_terms"] = parts
        out[f"log_prob_{key}_seconds"] = seconds
        print(f"  test bits/dim (n_terms={n_terms}): {bpd:.3f} ± {se:.3f}  (prior {parts['prior']:.4f}, denoising "
              f"{parts['denoising']:.3f}, decoder {parts['decoder']:.3f}); {seconds:.1f} s for 179 images", flush=True)
    # sample quality against steps
    ext = extractor_for(data, "digits")
    real = data.test.x
    f_real = ext.features(real)
    n = args.n_eval or len(real)
    grid = [("dpm++2m", s) for s in (10, 20, 50, 100, 1000)] + [("ddim", s) for s in (10, 20, 50, 100, 1000)] \
        + [("ddpm", s) for s in (100, 1000)]
    if args.quick:
        grid = [("dpm++2m", 10), ("ddim", 10)]
    # the reference row: validation images (seen neither by the model nor by the extractor, which
    # was trained on the training split, so training images would look unlike the test images)
    ref = data.val.x[:n]
    rows = [_quality_row("val images", 0, ref, f_real, ext.features(ref), ext, 0.0)]
    for sampler, steps in grid:
        t0 = time.perf_counter()
        x = model.sample(n, seed=0, sampler=sampler, steps=steps)
        rows.append(_quality_row(sampler, steps, x, f_real, ext.features(x), ext, time.perf_counter() - t0))
    print(f"  sample quality on the digits extractor {ext.id} (test accuracy {ext.accuracy:.3f}), {n} samples per row:")
    print(f"  {'sampler':12s} {'steps':>5s} {'FD':>7s} {'prec':>5s} {'recall':>6s} {'cover':>5s} {'conf>0.9':>8s} "
          f"{'class H':>7s} {'s':>6s}")
    for r in rows:
        print(f"  {r['sampler']:12s} {r['steps']:>5} {r['fd']:7.2f} {r['precision']:5.2f} {r['recall']:6.2f} "
              f"{r['coverage']:5.2f} {r['confident']:8.3f} {r['class_entropy_bits']:7.3f} {r['seconds']:6.2f}")
    out["rows"] = rows
    out["extractor"] = ext.id
    return out


def _quality_row(sampler, steps, x, f_real, f_fake, ext, seconds) -> dict:
    from genlab.metrics import sample_quality as sq

    with torch.no_grad():
        probs = torch.softmax(ext.net(x.float()), 1)
    prdc = sq.precision_recall_density_coverage(f_real, f_fake)
    hist = sq.class_histogram(probs.argmax(1), probs.shape[1])
    return {"sampler": sampler, "steps": steps, "fd": sq.frechet_distance(f_real, f_fake),
            "precision": prdc["precision"], "recall": prdc["recall"], "coverage": prdc["coverage"],
            "confident": float((probs.max(1).values > 0.9).float().mean()),
            "class_entropy_bits": hist["entropy_bits"], "class_counts": hist["counts"], "seconds": seconds}


# ---------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="train,end2end,sample,quality",
                   help="comma-separated parts: train, end2end, sample, quality")
    p.add_argument("--sizes", default="8,16,28", help="image sizes for the speed parts")
    p.add_argument("--precision", default="fp32,bf16", help="fp32, bf16 or both (training only)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-steps", type=int, default=24, help="timed steps per library and row (28x28: a quarter)")
    p.add_argument("--block", type=int, default=4, help="steps per alternation block")
    p.add_argument("--sample-repeats", type=int, default=3)
    p.add_argument("--no-ddpm", dest="ddpm", action="store_false", help="skip the 1000-step DDPM timings")
    p.add_argument("--n-eval", type=int, default=None, help="samples per quality row (default: test size)")
    p.add_argument("--quick", action="store_true", help="smoke test: few steps, 8x8 only, short training")
    p.add_argument("--json", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    args.parts = set(args.only.split(","))
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.precisions = args.precision.split(",")
    if args.quick:
        args.sizes, args.train_steps, args.sample_repeats, args.ddpm = [8], 4, 1, False
        args.precisions = ["fp32"]
    torch.set_num_threads(args.threads)
    import diffusers

    load_before = os.getloadavg()
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, genlab {genlab.__version__}; "
          f"{torch.get_num_threads()} threads; load average before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}", flush=True)
    if max(load_before[:1]) >= 1:
        print("warning: the machine is busy (load average >= 1); timings are noisy, the ratios less so", flush=True)
    result: dict = {"torch": torch.__version__, "diffusers": diffusers.__version__, "threads": torch.get_num_threads(),
                    "load_before": load_before, "rows": []}
    t_start = time.perf_counter()
    if "train" in args.parts:
        result["rows"] += bench_train(args)
    if "end2end" in args.parts:
        result["rows"].append(bench_end_to_end(args))
    if "sample" in args.parts:
        result["rows"] += bench_sample(args)
    if "quality" in args.parts:
        result["quality"] = bench_quality(args)
    result["load_after"] = os.getloadavg()
    result["seconds"] = time.perf_counter() - t_start
    print(f"load average after {result['load_after'][0]:.2f} {result['load_after'][1]:.2f} "
          f"{result['load_after'][2]:.2f}; {result['seconds']:.0f} s in all")
    line = json.dumps(result, default=float)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
