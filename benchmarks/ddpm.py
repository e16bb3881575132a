"""DDPM: training step time against plain PyTorch, sampling time, moons MMD, digits bits/dim.

From one run, on one machine:

1. **Training step.** ``DDPM(data_shape=(2,)).fit`` (L_simple through
   :func:`probmodels.train.train`: AdamW, one-cycle rate, gradient clipping,
   EMA) against a hand-written PyTorch epsilon-MSE loop on the same network
   (``TimeMLP(2, 256, 3)``), the same batch size (512) and the same optimiser
   settings, on two-moons data. Target: ours / plain <= 1.2. The two are
   timed alternately, ``--repeats`` times, and the medians compared.
2. **Sampling.** 2,000 points with T = 1000 (ancestral, through the Pyro
   model) and with 50 DDIM steps; the plain PyTorch ancestral loop on the same
   network for reference. Target: <= 2 s for ancestral sampling on the
   reference machine (2 cores, unloaded).
3. **Two moons.** The default fit on 8,000 standardised points, squared MMD
   (``mmd2``, bandwidths 0.05-1.0) of 2,000 samples to 2,000 held-out points.
   Target: <= 0.005.
4. **Digits.** A U-Net DDPM with the discretised decoder (17 grey levels) on
   the 8x8 digits (1,437 train / 360 test), bits per dimension of the test
   split with its Monte Carlo standard error.

Usage::

    PYTHONPATH=. python benchmarks/ddpm.py [--quick] [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch

from probmodels.datasets import load_digits, make_moons
from probmodels.metrics import mmd2
from probmodels.models.ddpm import DDPM
from probmodels.nn import TimeMLP


def moons(seed: int = 0):
    points, _ = make_moons(10_000, noise=0.05, seed=seed)
    mean, sd = points[:8000].mean(0), points[:8000].std(0)
    z = (points - mean) / sd
    return z[:8000], z[8000:]


def plain_train(x: torch.Tensor, steps: int, seed: int) -> float:
    """The baseline: epsilon-MSE on the same network, written directly in PyTorch. Returns seconds."""
    torch.manual_seed(seed)
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0).float()
    net = TimeMLP(2, 256, 3)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    n, b = x.shape[0], 512
    start = time.perf_counter()
    step = 0
    while step < steps:
        order = torch.randperm(n)
        for i in range(0, n, b):
            if step == steps:
                break
            x0 = x[order[i:i + b]]
            t = torch.randint(0, T, (x0.shape[0],))
            eps = torch.randn_like(x0)
            a = ab[t][:, None]
            loss = (net(a.sqrt() * x0 + (1 - a).sqrt() * eps, t + 1) - eps).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    return time.perf_counter() - start


@torch.no_grad()
def plain_sample(net: torch.nn.Module, n: int) -> float:
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    var = (betas * (1 - ab_prev) / (1 - ab)).float()
    var[0] = betas[0]
    betas, ab = betas.float(), ab.float()
    start = time.perf_counter()
    x = torch.randn(n, 2)
    for i in reversed(range(T)):
        eps = net(x, torch.full((n,), i + 1))
        mean = (x - betas[i] / (1 - ab[i]).sqrt() * eps) / (1 - betas[i]).sqrt()
        x = mean + var[i].sqrt() * torch.randn_like(x) if i > 0 else mean
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps everywhere (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results: dict[str, float] = {}
    x_train, held_out = moons()
    x = torch.as_tensor(x_train, dtype=torch.float32)

    # 1. training step
    bench_steps = 160 if args.quick else 800
    ours, plain = [], []
    for r in range(args.repeats):
        plain.append(plain_train(x, bench_steps, r) / bench_steps)
        fit = DDPM((2,)).fit(x_train, steps=bench_steps, seed=r)
        ours.append(fit.diagnostics["seconds"] / fit.diagnostics["steps"])
    results["train_step_ms_ours"] = 1e3 * statistics.median(ours)
    results["train_step_ms_plain"] = 1e3 * statistics.median(plain)
    results["train_step_ratio"] = results["train_step_ms_ours"] / results["train_step_ms_plain"]
    print(f"training step: ours {results['train_step_ms_ours']:.2f} ms, plain PyTorch "
          f"{results['train_step_ms_plain']:.2f} ms, ratio {results['train_step_ratio']:.2f} (target <= 1.2)")

    # 3. moons (default fit), then 2. sampling with its network
    steps = {"steps": 2000} if args.quick else {}
    fit = DDPM((2,)).fit(x_train, seed=0, **steps)
    results["moons_train_seconds"] = fit.diagnostics["seconds"]
    fit.sample(100, seed=0)  # warm-up
    start = time.perf_counter()
    samples = fit.sample(2000, seed=0)
    results["sample_seconds_ancestral"] = time.perf_counter() - start
    start = time.perf_counter()
    ddim = fit.sample(2000, steps=50, seed=0)
    results["sample_seconds_ddim50"] = time.perf_counter() - start
    results["sample_seconds_plain_loop"] = plain_sample(fit.denoiser, 2000)
    results["moons_mmd2_ancestral"] = mmd2(samples, held_out)
    results["moons_mmd2_ddim50"] = mmd2(ddim, held_out)
    results["moons_mmd2_real_vs_real"] = mmd2(moons(seed=1)[1], held_out)
    print(f"sampling 2,000 points: ancestral T=1000 {results['sample_seconds_ancestral']:.2f} s "
          f"(plain loop {results['sample_seconds_plain_loop']:.2f} s; target <= 2 s), "
          f"DDIM 50 steps {results['sample_seconds_ddim50']:.3f} s")
    print(f"two moons: train {results['moons_train_seconds']:.1f} s ({fit.diagnostics['steps']} steps), "
          f"MMD^2 ancestral {results['moons_mmd2_ancestral']:.4f} (target <= 0.005), DDIM-50 "
          f"{results['moons_mmd2_ddim50']:.4f}, real vs real {results['moons_mmd2_real_vs_real']:.4f}")

    # 4. digits
    images, _ = load_digits()
    xd = images[:, None].astype(np.float32) / 8.0 - 1.0  # 0..16 -> [-1, 1], 17 levels
    perm = np.random.default_rng(0).permutation(len(xd))
    train, test = xd[perm[:1437]], xd[perm[1437:]]
    ddpm = DDPM((1, 8, 8), decoder="discretized", num_levels=17, base_channels=32)
    dfit = ddpm.fit(train, steps=300 if args.quick else 4000, batch_size=128, lr=1e-3, seed=0)
    ev = dfit.evaluate(test[:64] if args.quick else test, num_draws=2, batch_size=512, seed=0)
    results["digits_train_seconds"] = dfit.diagnostics["seconds"]
    results["digits_bits_per_dim"] = ev.bits_per_dim
    results["digits_bits_per_dim_se"] = ev.bits_per_dim_se
    print(f"digits: train {dfit.diagnostics['seconds']:.0f} s ({dfit.diagnostics['steps']} steps), "
          f"test bits/dim {ev.bits_per_dim:.3f} ± {ev.bits_per_dim_se:.3f} "
          f"(uniform over 17 levels: {math.log2(17):.3f})")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
