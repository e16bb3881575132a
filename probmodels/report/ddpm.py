"""The DDPM report: the demo's section (two moons: samples, trajectory, MMD and bits/dim;
the 8x8 digits: a sample grid, the trajectory from noise to image and the test bits/dim)
and the data and figures of any DDPM fit (:func:`describe`, :func:`figures`)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

from probmodels import mmd2
from probmodels.datasets import DIGIT_LEVELS, digits_split, make_moons
from probmodels.models.ddpm import DDPM
from probmodels.report._base import (
    Figure,
    ReportOptions,
    ReportSection,
    SectionFolder,
    fit_verdict,
    summary_markdown,
    write_figures,
)

__all__ = ["describe", "figures", "section"]


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
    fit_options: dict[str, Any] = {"steps": 1500} if options.quick else {}
    fit: Any = DDPM(data_shape=(2,)).fit(train, seed=seed, **fit_options)
    start = time.perf_counter()
    samples = fit.sample(2000, seed=seed)
    sample_seconds = time.perf_counter() - start
    mmd = mmd2(samples, held_out)
    mmd_ddim = mmd2(fit.sample(2000, steps=50, seed=seed), held_out)
    ev = fit.evaluate(held_out[: 200 if options.quick else 2000], seed=seed)
    metrics = {
        "train_seconds": fit.diagnostics["seconds"],
        "train_steps": fit.diagnostics["steps"],
        "sample_seconds_2000_T1000": sample_seconds,
        "mmd2_ancestral": mmd,
        "mmd2_ddim_50": mmd_ddim,
        "nll_nats": ev.nats,
        "nll_nats_se": ev.nats_se,
        "bits_per_dim": ev.bits_per_dim,
        "bits_per_dim_se": ev.bits_per_dim_se,
    }
    digits_markdown, metrics["digits"] = _digits(folder, options)
    folder.path("metrics.json").write_text(json.dumps(metrics, indent=2))
    fit.save(folder.path("fit.npz"))
    fit_figures = write_figures(folder, figures(fit, data=held_out, evaluation=ev))
    quick = " --quick" if options.quick else ""
    markdown = f"""\
Data: two moons (noise 0.05), standardised per coordinate, 8,000 training and
2,000 held-out points; `fit = pm.DDPM(data_shape=(2,)).fit(x_train, seed={seed})`
({fit.diagnostics["steps"]} steps, {fit.diagnostics["seconds"]:.1f} s, T = 1000, L_simple, EMA).
Numbers: [ddpm/metrics.json](ddpm/metrics.json).

| metric | value |
|---|---|
| squared MMD, 2,000 ancestral samples vs held-out | {mmd:.4f} |
| squared MMD, 2,000 DDIM samples (50 steps) | {mmd_ddim:.4f} |
| sampling 2,000 points, T = 1000 (s) | {sample_seconds:.2f} |
| negative ELBO (nats / example) | {ev.nats:.3f} ± {ev.nats_se:.3f} |
| bits / dim (continuous, standardised units) | {ev.bits_per_dim:.3f} ± {ev.bits_per_dim_se:.3f} |

{summary_markdown(fit)}

{fit_verdict(fit).markdown()}

### Figures

Each figure is drawn by the call under it, with `fit = probmodels.load("ddpm/fit.npz")` and
`data` the {len(held_out):,} held-out points; all of them again:
`probmodels demo --seed {seed}{quick}`.

{fit_figures}

The fit: [ddpm/fit.npz](ddpm/fit.npz), read with `probmodels.load`.

{digits_markdown}
"""
    return ReportSection(
        title="DDPM: two moons and 8x8 digits", markdown=markdown, files=folder.files
    )


def _digits(folder: SectionFolder, options: ReportOptions) -> tuple[str, dict[str, Any]]:
    """The image DDPM (the default U-Net, discretised decoder) on the 8x8 digits: its sample
    grid, the trajectory from noise to image and the test bits/dim. ``quick``: 400 steps
    instead of 3,000, the figures by 100 DDIM steps instead of T = 1000 ancestral ones, and
    the bound on 64 test images (one draw) instead of 360 (two)."""
    seed = options.seed
    train, test = digits_split()
    steps, sampler = (400, 100) if options.quick else (3000, None)
    held = test[:64] if options.quick else test
    draws = 1 if options.quick else 2
    fit: Any = DDPM((1, 8, 8), decoder="discretized", num_levels=DIGIT_LEVELS).fit(
        train, steps=steps, batch_size=128, seed=seed
    )
    ev = fit.evaluate(held, num_draws=draws, batch_size=512, seed=seed)
    metrics = {
        "train_seconds": fit.diagnostics["seconds"],
        "train_steps": fit.diagnostics["steps"],
        "test_images": len(held),
        "bits_per_dim": ev.bits_per_dim,
        "bits_per_dim_se": ev.bits_per_dim_se,
        "uniform_bits_per_dim": math.log2(DIGIT_LEVELS),
    }
    fit.save(folder.path("digits_fit.npz"))
    shown = [
        dataclasses.replace(f, filename="digits_" + f.filename)
        for f in figures(fit, evaluation=ev, steps=sampler)
    ]
    how = "T = 1000 ancestral steps" if sampler is None else f"{sampler} DDIM steps"
    markdown = f"""### 8x8 digits

Data: the shipped 8x8 digits (`probmodels.datasets.load_digits`) on their 17 grey levels
scaled to [-1, 1], {len(train):,} training and {len(test):,} test images (a fixed split,
`probmodels.datasets.digits_split()`); `fit = pm.DDPM((1, 8, 8), decoder="discretized",
num_levels=17).fit(x_train, steps={steps}, batch_size=128, seed={seed})` (the
default image DDPM: the `probmodels.nn.UNet`, linear betas, noise prediction;
{fit.diagnostics["steps"]} steps, {fit.diagnostics["seconds"]:.1f} s).

| metric | value |
|---|---|
| test bits / dim ({len(held)} images, {draws} draw(s) of the chain each) | {ev.bits_per_dim:.3f} ± {ev.bits_per_dim_se:.3f} |
| uniform over the 17 levels | {math.log2(DIGIT_LEVELS):.3f} |

The samples and trajectories are drawn with {how}
(`fit = probmodels.load("ddpm/digits_fit.npz")`, `data` the test images):

{write_figures(folder, shown)}

The fit: [ddpm/digits_fit.npz](ddpm/digits_fit.npz).
"""
    return markdown, metrics


def describe(fit: Any) -> str:
    """What a DDPM fit models, in words (its training data is not part of the fit file).

    Parameters
    ----------
    fit : DDPMFit
        A fit of :class:`~probmodels.DDPM`.

    Returns
    -------
    str
        Markdown: the data shape and the length of the chain.
    """
    ddpm = fit.ddpm
    shape = " x ".join(map(str, ddpm.data_shape))
    return (
        f"Data: examples of shape {shape}, a chain of T = {ddpm.timesteps} steps. The "
        f"training data is not stored in the fit, so the samples are drawn alone and the "
        f"bits/dim per timestep (which needs data) is left out; "
        f"`fit.plot_bits_per_timestep(x)` draws it for data `x`."
    )


def figures(fit: Any, data=None, evaluation=None, steps: int | None = None) -> list[Figure]:
    """The figures of a DDPM fit: samples (over ``data``), the denoising trajectory, the
    loss and, given ``evaluation``, the bits/dim of each timestep.

    Parameters
    ----------
    fit : DDPMFit
        A fit of :class:`~probmodels.DDPM`.
    data : array-like, optional
        Data to draw under the samples (vectors only).
    evaluation : DDPMEvaluation, optional
        ``fit.evaluate(x)`` of some data ``x``, for the bits/dim per timestep.
    steps : int, optional
        Denoising steps of the samples and the trajectory (default ``T``, ancestral;
        fewer: DDIM).

    Returns
    -------
    list of Figure
        The figures with the calls that draw them, not drawn yet.
    """
    vectors = fit.ddpm.event_dim == 1
    n = 2000 if vectors else 64
    over = ", data=data" if data is not None and vectors else ""
    k = 500 if vectors else 8
    how = "" if steps is None else f", steps={steps}"
    shown = [
        Figure(
            "samples.png",
            f"{n} samples" + (" (blue) over the data (grey)" if over else ""),
            f"fit.plot_samples({n}{how}, seed={fit.seed}{over})",
            lambda ax: fit.plot_samples(
                n, steps=steps, seed=fit.seed, data=data if over else None, ax=ax
            ),
            figsize=(5.0, 5.0),
        ),
        Figure(
            "trajectory.png",
            "The reverse process from x_T (left) to x_0 (right)"
            + ("" if vectors else f", one row for each of {k} samples"),
            f"fit.plot_trajectory({k}{how}, seed={fit.seed})",
            lambda ax: fit.plot_trajectory(k, steps=steps, seed=fit.seed, ax=ax),
            figsize=(12.0, 2.8) if vectors else (6.0, 8.0),
        ),
    ]
    if evaluation is not None:
        shown.append(
            Figure(
                "bits_per_timestep.png",
                "Each timestep's term of the bound in bits/dim; they add up to the bits/dim above",
                "fit.plot_bits_per_timestep(data)",
                lambda ax: fit.plot_bits_per_timestep(evaluation=evaluation, ax=ax),
                figsize=(7.0, 3.5),
            )
        )
    if len(fit.losses):
        shown.append(
            Figure(
                "loss.png",
                "Training loss per epoch with its running mean",
                "fit.plot_loss()",
                lambda ax: fit.plot_loss(ax=ax),
                figsize=(6.0, 3.5),
            )
        )
    return shown
