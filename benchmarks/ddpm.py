"""DDPM against a plain PyTorch DDPM in equal wall-clock time: a 2-D suite, sampling, digits.

From one run, on one machine, every torch computation pinned to ``--threads``
threads (default 1) on both sides. Times are process CPU seconds by default
(``--clock cpu``): with one thread they equal wall-clock seconds on an idle
machine, and they stay fair when other jobs share the cores (a wall-clock
budget then gives whichever side runs in a quieter moment more steps);
``--clock wall`` uses wall-clock time.

1. **2-D suite.** Five generated sets (:data:`SETS`: 8 gaussians, checkerboard,
   circles, pinwheel, two moons), 10,000 points each: the first 8,000 train,
   the last 2,000 are held out, all standardised with the training part's mean
   and sd. ``DDPM(data_shape=(2,)).fit(train)`` with its defaults is timed;
   the baseline (:class:`PlainMLP`, :func:`plain_train`: a plain PyTorch
   epsilon-MSE DDPM, MLP 3x128 with GELU on ``[x, emb(t)]``, a 64-d sinusoidal
   time embedding, T = 1000 linear betas 1e-4..0.02, AdamW at a constant 1e-3,
   batch 256, no EMA) then trains for exactly that many seconds. Printed:
   squared MMD (:func:`probmodels.metrics.mmd2`, Gaussian kernels of bandwidth
   0.05-1.0) of 2,000 samples of each to the 2,000 held-out points, ancestral
   (T = 1000) and DDIM (50 steps), and MMD^2 between two independent real
   samples for scale. Targets: ours <= the baseline on every set, two moons
   <= 0.002 with training <= 60 s on 2 cores.
2. **Sampling.** 2,000 points with T = 1000 ancestral (ours through the Pyro
   model) and with 50 DDIM steps, on one thread, as ratios to the baseline's
   own loops (:func:`plain_ancestral`, :func:`plain_ddim`) timed alternately
   in the same run (median of ``--repeats``). Target: <= 1.0.
3. **Digits** (not with ``--skip-digits``). The default image DDPM (our U-Net,
   ``UNet(1, 32, (1, 2))``, discretised decoder on 17 grey levels) on the 8x8
   digits scaled to [-1, 1] (fixed split: 1,437 train / 360 test), 3,000 steps
   of batch 128 (the default one-cycle rate, peak 2e-3, EMA 0.995), against a plain PyTorch epsilon-MSE loop on the same
   U-Net (linear betas, AdamW 1e-3, batch 128, no EMA) for the same time; test
   bits per dimension of both from the same bound code (``DDPMFit.evaluate``,
   the whole chain, 2 draws) with their Monte Carlo standard errors.

4. **Recipes** (``--recipes all`` instead of 1-3): each recipe of :data:`RECIPES`
   (the choices tried for the default) fitted on moons and circles, MMD^2 of
   ancestral and DDIM-50 samples at two sample seeds.

Usage::

    PYTHONPATH=. python benchmarks/ddpm.py [--quick] [--sets moons,circles] [--threads N]
    PYTHONPATH=. python benchmarks/ddpm.py --recipes all
    PYTHONPATH=. python benchmarks/ddpm.py --only-digits --digits-steps 1000
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from probmodels.datasets import DIGIT_LEVELS, digits_split, make_moons
from probmodels.metrics import bits_per_dim, mmd2
from probmodels.models.ddpm import DDPM, DDPMFit
from probmodels.nn import UNet

#: points per set: the first N_TRAIN train, the rest are held out
N_TRAIN, N_HELD_OUT = 8000, 2000


# --------------------------------------------------------------------------- the 2-D sets
# The toy densities of FFJORD (Grathwohl et al. 2019, ``lib/toy_data.py``) and of
# scikit-learn (moons, circles), written in numpy with one generator each.


def eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    """Eight Gaussians of sd 0.5 centred on a circle of radius 4 (then scaled by 1/1.414)."""
    angles = rng.integers(0, 8, n) * (np.pi / 4)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    return (centres + 0.5 * rng.standard_normal((n, 2))) / 1.414


def checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the eight dark squares of a 4x4 checkerboard of side 8."""
    x1 = rng.uniform(-2, 2, n)
    x2 = rng.uniform(0, 1, n) - rng.integers(0, 2, n) * 2.0 + np.floor(x1) % 2
    return 2.0 * np.stack([x1, x2], 1)


def circles(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two concentric circles, radii 1 and 0.5, noise sd 0.08 (scikit-learn's make_circles), times 3."""
    angles = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(rng.integers(0, 2, n) == 0, 1.0, 0.5)
    points = radius[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
    return 3.0 * (points + 0.08 * rng.standard_normal((n, 2)))


def pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    """Five curved arms (radial sd 0.3, tangential sd 0.1, rate 0.25), times 2."""
    arms = rng.integers(0, 5, n)
    features = rng.standard_normal((n, 2)) * np.array([0.3, 0.1])
    features[:, 0] += 1.0
    angles = arms * (2 * np.pi / 5) + 0.25 * np.exp(features[:, 0])
    c, s = np.cos(angles), np.sin(angles)
    rotations = np.stack([c, -s, s, c], 1).reshape(n, 2, 2)  # (data, 2, 2)
    return 2.0 * np.einsum("ni,nij->nj", features, rotations)


def two_moons(n: int, rng: np.random.Generator) -> np.ndarray:
    """scikit-learn's two moons with noise 0.05 (:func:`probmodels.datasets.make_moons`)."""
    return make_moons(n, noise=0.05, seed=int(rng.integers(2**31)))[0]


#: name -> generator(n, rng) of points of shape (n, 2)
SETS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "8gaussians": eight_gaussians,
    "checkerboard": checkerboard,
    "circles": circles,
    "pinwheel": pinwheel,
    "moons": two_moons,
}


def split(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)`` of set ``name``: (8000, 2) and (2000, 2), standardised on train."""
    points = SETS[name](N_TRAIN + N_HELD_OUT, np.random.default_rng(seed))
    mean, sd = points[:N_TRAIN].mean(0), points[:N_TRAIN].std(0)
    z = (points - mean) / sd
    return z[:N_TRAIN], z[N_TRAIN:]


# --------------------------------------------------------------------------- the baseline
T = 1000


def _linear_coefficients():
    """Ho et al.'s linear betas 1e-4..0.02 and what the samplers need, float32, indexed 0..T-1."""
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    var = betas * (1 - ab_prev) / (1 - ab)  # posterior variance (eq. 7)
    var[0] = betas[0]
    return betas.float(), ab.float(), var.float()


class PlainMLP(nn.Module):
    """The baseline's network: MLP 3x128 with GELU on ``[x, sinusoidal(t)]`` (64-d embedding)."""

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, time_dim: int = 64):
        super().__init__()
        half = time_dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half) / half))
        layers, width = [], dim + time_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[:, None] * self.freqs  # (batch, time_dim / 2)
        return self.net(torch.cat([x, angles.sin(), angles.cos()], -1))


def plain_train(x: torch.Tensor, seconds: float, seed: int,
                clock: Callable[[], float] = time.perf_counter, *, net: nn.Module | None = None,
                batch_size: int = 256) -> tuple[nn.Module, int]:
    """Train the baseline (``net``, default :class:`PlainMLP`) for ``seconds`` of ``clock``:
    epsilon-MSE with linear betas, AdamW at a constant 1e-3, no EMA. Returns the network and
    its steps."""
    torch.manual_seed(seed)
    _, ab, _ = _linear_coefficients()
    net = PlainMLP() if net is None else net
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    n, steps = x.shape[0], 0
    start = clock()
    while clock() - start < seconds:
        order = torch.randperm(n)
        for i in range(0, n, batch_size):
            if clock() - start >= seconds:
                break
            x0 = x[order[i:i + batch_size]]
            t = torch.randint(0, T, (x0.shape[0],))  # index t means the paper's t + 1
            eps = torch.randn_like(x0)
            a = ab[t].reshape((-1,) + (1,) * (x0.dim() - 1))  # (batch, 1, ...)
            loss = (net(a.sqrt() * x0 + (1 - a).sqrt() * eps, t + 1) - eps).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    return net.eval(), steps


@torch.no_grad()
def plain_ancestral(net: nn.Module, n: int, seed: int) -> torch.Tensor:
    """Ho et al.'s algorithm 2 with sigma_t^2 the posterior variance."""
    torch.manual_seed(seed)
    betas, ab, var = _linear_coefficients()
    x = torch.randn(n, 2)
    for i in reversed(range(T)):
        eps = net(x, torch.full((n,), i + 1))
        mean = (x - betas[i] / (1 - ab[i]).sqrt() * eps) / (1 - betas[i]).sqrt()
        x = mean + var[i].sqrt() * torch.randn_like(x) if i > 0 else mean
    return x


@torch.no_grad()
def plain_ddim(net: nn.Module, n: int, steps: int, seed: int) -> torch.Tensor:
    """Deterministic DDIM (Song et al. eq. 12, sigma = 0) on ``steps`` evenly spaced timesteps."""
    torch.manual_seed(seed)
    _, ab, _ = _linear_coefficients()
    taus = np.unique(np.round(np.linspace(1, T, steps)).astype(int))[::-1].tolist()
    x = torch.randn(n, 2)
    for j, tau in enumerate(taus):
        a = ab[tau - 1]
        a_prev = ab[taus[j + 1] - 1] if j + 1 < len(taus) else torch.tensor(1.0)
        eps = net(x, torch.full((n,), tau))
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x


# --------------------------------------------------------------------------- runs


#: the clocks that time the training of both sides (see ``--clock``)
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def compare_2d(name: str, *, fit_options: dict, seed: int = 0, threads: int = 1, clock: str = "cpu",
               ddpm_options: dict | None = None) -> dict[str, float]:
    """Ours (defaults, or the given options) and the baseline for the same time on set ``name``."""
    x_train, held_out = split(name, seed)
    tick = CLOCKS[clock]
    start = tick()
    fit = DDPM((2,), **(ddpm_options or {})).fit(x_train, seed=seed, progress=False,
                                                 num_threads=threads, **fit_options)
    seconds = tick() - start  # the whole fit call: set-up, loop and EMA copy
    torch.set_num_threads(threads)
    net, plain_steps = plain_train(torch.as_tensor(x_train, dtype=torch.float32), seconds, seed, tick)
    n = N_HELD_OUT
    return {
        "train_seconds": seconds, "train_wall_seconds": fit.diagnostics["seconds"],
        "steps_ours": fit.diagnostics["steps"], "steps_plain": plain_steps,
        "ours_ancestral": mmd2(fit.sample(n, seed=seed, num_threads=threads), held_out),
        "ours_ddim50": mmd2(fit.sample(n, steps=50, seed=seed, num_threads=threads), held_out),
        "plain_ancestral": mmd2(plain_ancestral(net, n, seed), held_out),
        "plain_ddim50": mmd2(plain_ddim(net, n, 50, seed), held_out),
        "real_vs_real": mmd2(split(name, seed + 1)[1], held_out),
        "_fit": fit, "_net": net,
    }


def sampling_ratios(fit, net: nn.Module, repeats: int, clock: str = "cpu") -> dict[str, float]:
    """Median seconds of 2,000 draws, ours and the baseline alternately, on one thread."""
    torch.set_num_threads(1)
    times = {k: [] for k in ("ours_ancestral", "plain_ancestral", "ours_ddim50", "plain_ddim50")}
    tick = CLOCKS[clock]

    def clock(key, call):
        start = tick()
        call()
        times[key].append(tick() - start)

    fit.sample(100, seed=0)  # warm-up
    for r in range(repeats):
        clock("plain_ancestral", lambda: plain_ancestral(net, 2000, r))
        clock("ours_ancestral", lambda: fit.sample(2000, seed=r, num_threads=1))
        clock("plain_ddim50", lambda: plain_ddim(net, 2000, 50, r))
        clock("ours_ddim50", lambda: fit.sample(2000, steps=50, seed=r, num_threads=1))
    out = {f"{k}_seconds": statistics.median(v) for k, v in times.items()}
    out["ratio_ancestral"] = out["ours_ancestral_seconds"] / out["plain_ancestral_seconds"]
    out["ratio_ddim50"] = out["ours_ddim50_seconds"] / out["plain_ddim50_seconds"]
    return out


#: the recipes tried for the default (docs/ddpm.md): name -> (DDPM options, fit options);
#: every one trains 7,000 steps of batches of 512 unless it says otherwise
RECIPES: dict[str, tuple[dict, dict]] = {
    "linear, epsilon (old default)": ({"noise_schedule": "linear", "prediction": "epsilon"},
                                      {"timestep_sampling": "uniform"}),
    "cosine, epsilon": ({"prediction": "epsilon"}, {"timestep_sampling": "uniform"}),
    "cosine, v, uniform t": ({}, {"timestep_sampling": "uniform"}),
    "cosine, v, uniform t, min-SNR 5": ({}, {"timestep_sampling": "uniform", "loss_weighting": "min_snr"}),
    "cosine, v, uniform t, b256 x 12k": ({}, {"timestep_sampling": "uniform", "batch_size": 256,
                                              "steps": 12000}),
    "cosine, v, stratified t (default)": ({}, {}),
}


def compare_recipes(names: list[str], sets: list[str], clock: str = "cpu") -> None:
    """Print MMD^2 of each recipe on each set: ancestral and DDIM-50 at sample seeds 0 and 1."""
    tick = CLOCKS[clock]
    print(f"{'recipe':<36}{'set':<9}{'train s':>8}{'anc seed 0/1':>17}{'DDIM-50 seed 0/1':>19}")
    for recipe in names:
        ddpm_options, fit_options = RECIPES[recipe]
        for name in sets:
            x_train, held_out = split(name)
            start = tick()
            fit = DDPM((2,), **ddpm_options).fit(x_train, seed=0, progress=False, **fit_options)
            seconds = tick() - start
            anc = [mmd2(fit.sample(N_HELD_OUT, seed=s), held_out) for s in (0, 1)]
            ddim = [mmd2(fit.sample(N_HELD_OUT, steps=50, seed=s), held_out) for s in (0, 1)]
            print(f"{recipe:<36}{name:<9}{seconds:>8.1f}{anc[0]:>9.4f}/{anc[1]:<7.4f}"
                  f"{ddim[0]:>11.4f}/{ddim[1]:<7.4f}", flush=True)


def digits(quick: bool, clock: str = "cpu", threads: int = 1, steps: int = 3000) -> dict[str, float]:
    """Test bits/dim of the default image DDPM and of the plain U-Net DDPM trained as long,
    both from the same bound code (``DDPMFit.evaluate``: the whole chain, 2 draws)."""
    train, test = digits_split()
    if quick:
        test = test[:64]
    tick = CLOCKS[clock]
    start = tick()
    ours = DDPM((1, 8, 8), decoder="discretized", num_levels=DIGIT_LEVELS).fit(
        train, steps=200 if quick else steps, batch_size=128, seed=0, progress=False,
        num_threads=threads)
    seconds = tick() - start
    torch.set_num_threads(threads)
    # the image baseline: the same plain loop on the same U-Net as ours, batch 128
    torch.manual_seed(0)
    net, plain_steps = plain_train(torch.as_tensor(train), seconds, 0, tick, net=UNet(1, 32, (1, 2)),
                                   batch_size=128)
    # the plain network as the denoiser of a DDPM with its own schedule and target, so that
    # its bound comes from the same code as ours
    chain = DDPM((1, 8, 8), decoder="discretized", num_levels=DIGIT_LEVELS, noise_schedule="linear",
                 prediction="epsilon", denoiser=net)
    plain = DDPMFit(draws={}, method="svi", seed=0, losses=np.zeros(0), options={}, diagnostics={},
                    ddpm=chain)
    out = {"digits_train_seconds": seconds, "digits_steps_ours": ours.diagnostics["steps"],
           "digits_steps_plain": plain_steps}
    per_example = {}
    for name, fit in (("ours", ours), ("plain", plain)):
        ev = fit.evaluate(test, num_draws=2, batch_size=512, seed=0)
        out[f"digits_bits_per_dim_{name}"] = ev.bits_per_dim
        out[f"digits_bits_per_dim_se_{name}"] = ev.bits_per_dim_se
        per_example[name] = ev.per_example
    # paired over the same test images: its standard error counts both bounds' Monte Carlo
    # noise and the images' spread of the difference
    diff = bits_per_dim(per_example["ours"] - per_example["plain"], ours.ddpm.num_dims)
    out["digits_bits_per_dim_diff"] = float(diff.mean())
    out["digits_bits_per_dim_diff_se"] = float(diff.std(ddof=1) / math.sqrt(diff.size))
    print(f"digits ({len(test)} test images, {DIGIT_LEVELS} levels; uniform {math.log2(DIGIT_LEVELS):.3f} bits/dim): "
          f"train {seconds:.0f} {clock} s each, steps ours/plain {out['digits_steps_ours']}/{plain_steps}; "
          f"test bits/dim ours {out['digits_bits_per_dim_ours']:.3f} ± {out['digits_bits_per_dim_se_ours']:.3f}, "
          f"plain {out['digits_bits_per_dim_plain']:.3f} ± {out['digits_bits_per_dim_se_plain']:.3f}; "
          f"ours - plain {out['digits_bits_per_dim_diff']:+.3f} ± {out['digits_bits_per_dim_diff_se']:.3f} "
          "(paired over the test images)", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 training steps, two sets (a smoke run)")
    parser.add_argument("--sets", default=None, help=f"comma-separated subset of {','.join(SETS)}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both sides' training")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="the training-time budget in process CPU seconds (default: fair on a busy "
                             "machine; equal to wall-clock seconds on an idle one with --threads 1) or "
                             "wall-clock seconds")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each sampler")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--only-digits", action="store_true", help="the digits comparison alone")
    parser.add_argument("--digits-steps", type=int, default=3000, help="training steps of our digits DDPM")
    parser.add_argument("--recipes", default=None,
                        help="instead of the comparison: 'all' or ';'-separated names of RECIPES, "
                             "each fitted on moons and circles (or --sets)")
    args = parser.parse_args()
    if args.recipes is not None:
        recipes = list(RECIPES) if args.recipes == "all" else [r.strip() for r in args.recipes.split(";")]
        unknown = sorted(set(recipes) - set(RECIPES))
        if unknown:
            parser.error(f"unknown recipe(s) {unknown}; choose from {list(RECIPES)}")
        compare_recipes(recipes, args.sets.split(",") if args.sets else ["moons", "circles"], args.clock)
        return
    if args.only_digits:
        print(json.dumps(digits(args.quick, args.clock, args.threads, args.digits_steps), indent=2))
        return
    names = args.sets.split(",") if args.sets else (["moons", "circles"] if args.quick else list(SETS))
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {unknown}; choose from {', '.join(SETS)}")
    fit_options = {"steps": 1000} if args.quick else {}
    results: dict[str, dict] = {}
    print(f"training time: {args.clock} seconds, {args.threads} thread(s) each; MMD^2 to 2,000 held-out points")
    print(f"{'set':<13}{'train s':>8}{'steps ours/plain':>18}{'ours anc':>10}{'plain anc':>10}"
          f"{'ours ddim':>10}{'plain ddim':>11}{'real/real':>10}")
    for name in names:
        r = compare_2d(name, fit_options=fit_options, threads=args.threads, clock=args.clock)
        results[name] = r
        print(f"{name:<13}{r['train_seconds']:>8.1f}{r['steps_ours']:>10d}/{r['steps_plain']:<7d}"
              f"{r['ours_ancestral']:>10.4f}{r['plain_ancestral']:>10.4f}{r['ours_ddim50']:>10.4f}"
              f"{r['plain_ddim50']:>11.4f}{r['real_vs_real']:>10.4f}", flush=True)
    last = results[names[-1]]
    timing = sampling_ratios(last["_fit"], last["_net"], args.repeats, args.clock)
    print(f"sampling 2,000 points on one thread: ancestral T=1000 ours {timing['ours_ancestral_seconds']:.2f} s, "
          f"plain {timing['plain_ancestral_seconds']:.2f} s, ratio {timing['ratio_ancestral']:.2f}; "
          f"DDIM 50 ours {timing['ours_ddim50_seconds']:.3f} s, plain {timing['plain_ddim50_seconds']:.3f} s, "
          f"ratio {timing['ratio_ddim50']:.2f} (target <= 1.0)")
    summary = {name: {k: v for k, v in r.items() if not k.startswith("_")} for name, r in results.items()}
    summary["sampling"] = timing
    if not args.skip_digits:
        summary["digits"] = digits(args.quick, args.clock, args.threads, args.digits_steps)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
