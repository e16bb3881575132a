"""The demo's DDPM section: two moons, samples, trajectory, MMD and bits/dim."""

from __future__ import annotations

import json
import time
from pathlib import Path

from probmodels import mmd2
from probmodels.datasets import make_moons
from probmodels.models.ddpm import DDPM
from probmodels.report._base import ReportOptions, ReportSection, SectionFolder, save_figure

__all__ = ["section"]


def section(out_dir: Path, options: ReportOptions) -> ReportSection:
    """DDPM on two moons.

    Writes ``samples.png``, ``trajectory.png`` and ``metrics.json`` into
    ``out_dir / "ddpm"``. ``quick`` trains 1,500 steps instead of the default
    7,000 and evaluates 200 held-out points instead of 2,000.
    """
    seed = options.seed
    folder = SectionFolder(out_dir, "ddpm")
    points, _ = make_moons(10_000, noise=0.05, seed=seed)
    mean, sd = points[:8000].mean(0), points[:8000].std(0)
    z = (points - mean) / sd
    train, held_out = z[:8000], z[8000:]
    fit = DDPM(data_shape=(2,)).fit(train, seed=seed, **({"steps": 1500} if options.quick else {}))
    start = time.perf_counter()
    samples = fit.sample(2000, seed=seed)
    sample_seconds = time.perf_counter() - start
    mmd = mmd2(samples, held_out)
    mmd_ddim = mmd2(fit.sample(2000, steps=50, seed=seed), held_out)
    ev = fit.evaluate(held_out[:200 if options.quick else 2000], seed=seed)
    save_figure(lambda ax: fit.plot_samples(2000, seed=seed, data=held_out, ax=ax),
                folder.path("samples.png"), figsize=(5.0, 5.0))
    save_figure(lambda ax: fit.plot_trajectory(500, seed=seed, ax=ax), folder.path("trajectory.png"),
                figsize=(12.0, 2.8))
    metrics = {
        "train_seconds": fit.diagnostics["seconds"], "train_steps": fit.diagnostics["steps"],
        "sample_seconds_2000_T1000": sample_seconds, "mmd2_ancestral": mmd, "mmd2_ddim_50": mmd_ddim,
        "nll_nats": ev.nats, "nll_nats_se": ev.nats_se, "bits_per_dim": ev.bits_per_dim,
        "bits_per_dim_se": ev.bits_per_dim_se,
    }
    folder.path("metrics.json").write_text(json.dumps(metrics, indent=2))
    markdown = f"""\
Data: two moons (noise 0.05), standardised per coordinate, 8,000 training and
2,000 held-out points; `pm.DDPM(data_shape=(2,)).fit(x_train, seed={seed})`
({fit.diagnostics['steps']} steps, {fit.diagnostics['seconds']:.1f} s, T = 1000, L_simple, EMA).
Numbers: [ddpm/metrics.json](ddpm/metrics.json).

| metric | value |
|---|---|
| squared MMD, 2,000 ancestral samples vs held-out | {mmd:.4f} |
| squared MMD, 2,000 DDIM samples (50 steps) | {mmd_ddim:.4f} |
| sampling 2,000 points, T = 1000 (s) | {sample_seconds:.2f} |
| negative ELBO (nats / example) | {ev.nats:.3f} ± {ev.nats_se:.3f} |
| bits / dim (continuous, standardised units) | {ev.bits_per_dim:.3f} ± {ev.bits_per_dim_se:.3f} |

![samples](ddpm/samples.png) ![trajectory](ddpm/trajectory.png)
"""
    return ReportSection(title="DDPM: two moons", markdown=markdown, files=folder.files)
