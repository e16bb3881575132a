"""The VAE report: the demo's section (binarized 8x8 digits, ELBO and importance-sampled
log-likelihood) and the data and figures of any VAE fit (:func:`describe`, :func:`figures`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probmodels.datasets import load_digits
from probmodels.models.vae import VAE
from probmodels.report._base import (
    Figure,
    ReportOptions,
    ReportSection,
    SectionFolder,
    fit_verdict,
    markdown_table,
    summary_markdown,
    write_figures,
)

__all__ = ["binarized_digits", "describe", "figures", "section"]


def binarized_digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 8x8 digits as binary images.

    Returns
    -------
    x : numpy.ndarray of float32, shape (1797, 1, 8, 8)
        1 where the grey level is at least 8 of 16, else 0.
    labels : numpy.ndarray of int, shape (1797,)
    """
    images, labels = load_digits()
    x = (images >= 8).astype(np.float32)[:, None]  # (data, 1, 8, 8)
    return x, labels


def section(out_dir: Path, options: ReportOptions) -> ReportSection:
    """VAE on binarized digits, first 1,500 for training, last 297 for testing.

    Writes into ``out_dir / "vae"``: ``metrics.csv``, ``reconstructions.png``,
    ``samples.png``, ``latent.png``, ``loss.png``, ``fit.npz``. ``quick`` trains
    420 steps (about 20 epochs) instead of the default and evaluates with 200 importance draws
    instead of 1,000.
    """
    seed = options.seed
    folder = SectionFolder(out_dir, "vae")
    x, labels = binarized_digits()
    x_train, x_test = x[:1500], x[1500:]
    vae = VAE(input_shape=(1, 8, 8), latent_dim=8, likelihood="bernoulli")
    fit_options: dict[str, Any] = {"steps": 420} if options.quick else {}
    fit: Any = vae.fit(x_train, seed=seed, progress=False, **fit_options)
    num_samples = 200 if options.quick else 1000
    test = fit.evaluate(x_test, num_samples=num_samples)
    train = fit.evaluate(x_train, num_samples=num_samples)
    d = fit.diagnostics
    table = pd.DataFrame(
        {
            "ELBO (nats)": [train["elbo"], test["elbo"]],
            f"log-likelihood, IWAE {test['num_samples']} draws (nats)": [
                train["log_likelihood"],
                test["log_likelihood"],
            ],
            "images": [len(x_train), len(x_test)],
        },
        index=pd.Index(["train (first 1,500)", "test (last 297)"], name="split"),
    )
    table.to_csv(folder.path("metrics.csv"))
    fit.save(folder.path("fit.npz"))
    fit_figures = write_figures(folder, figures(fit, x_test, labels[1500:]))
    loss = (
        "`TraceMeanField_ELBO` (Pyro's `Trace_ELBO` with the Gaussian KL in closed form)"
        if fit.vae.analytic_kl
        else "`Trace_ELBO`"
    )
    quick = " --quick" if options.quick else ""
    text = f"""\
Data: `probmodels.datasets.load_digits()`, binarized (pixel >= 8 of 16 is 1); the
first 1,500 images train, the last 297 test.

`fit = pm.VAE(input_shape=(1, 8, 8), latent_dim=8, likelihood="bernoulli").fit(x_train, seed={seed}{", steps=420" if options.quick else ""})`:
{d["epochs"]} epochs ({"stopped early, " if d["stopped_early"] else ""}best validation epoch {d["best_epoch"]}),
{d["steps"]} SVI steps with {loss}, {d["seconds"]:.1f} s. Table: [vae/metrics.csv](vae/metrics.csv).

{markdown_table(table, digits=2)}

{summary_markdown(fit)}

{fit_verdict(fit).markdown()}

### Figures

Each figure is drawn by the call under it, with `fit = probmodels.load("vae/fit.npz")` and
`x, labels = x_test, labels_test` (the last 297 binarized digits,
`probmodels.report.vae.binarized_digits()`); all of them again:
`probmodels demo --seed {seed}{quick}`.

{fit_figures}

The fit: [vae/fit.npz](vae/fit.npz), read with `probmodels.load`.
"""
    return ReportSection(
        title="VAE: binarized hand-written digits", markdown=text, files=folder.files
    )


def describe(fit: Any) -> str:
    """What a VAE fit models, in words (its training data is not part of the fit file).

    Parameters
    ----------
    fit : VAEFit
        A fit of :class:`~probmodels.VAE`.

    Returns
    -------
    str
        Markdown: the input shape, likelihood and latent size.
    """
    vae = fit.vae
    shape = " x ".join(map(str, vae.input_shape))
    return (
        f"Data: examples of shape {shape} with a {vae.likelihood} likelihood, encoded in "
        f"{vae.latent_dim} latent dimensions. The training data is not stored in the fit, so "
        f"the figures that need examples (reconstructions, latent scatter, interpolation) "
        f"are left out; `fit.plot_reconstructions(x)` and `fit.plot_latent(x, labels)` "
        f"draw them for examples `x`."
    )


def figures(fit: Any, x=None, labels=None) -> list[Figure]:
    """The figures of a VAE fit: samples and loss curves; with examples ``x`` also
    reconstructions, the latent scatter (coloured by ``labels``) and an interpolation.

    Parameters
    ----------
    fit : VAEFit
        A fit of :class:`~probmodels.VAE`. The image figures need an image VAE
        (``input_shape`` of length 3); a VAE of vectors gets the loss curves only.
    x : array-like, optional
        Examples as for :meth:`VAE.fit`, e.g. held-out images.
    labels : array-like, optional
        One label per example of ``x``, for the colours of the latent scatter; the
        interpolation then runs from the first example of the first label to the first
        of another label (else from the first example to the second).

    Returns
    -------
    list of Figure
        The figures with the calls that draw them, not drawn yet.
    """
    shown = []
    images = len(fit.vae.input_shape) == 3
    if images and x is not None:
        x = np.asarray(x)
        shown.append(
            Figure(
                "reconstructions.png",
                "Examples (top) and their reconstructions E[x | z = mu(x)] (bottom)",
                "fit.plot_reconstructions(x, n=12)",
                lambda ax: fit.plot_reconstructions(x, n=12, ax=ax),
                figsize=(7.0, 1.8),
            )
        )
    if images:
        shown.append(
            Figure(
                "samples.png",
                "64 samples E[x | z], z ~ N(0, I)",
                f"fit.plot_samples(64, seed={fit.seed})",
                lambda ax: fit.plot_samples(64, seed=fit.seed, ax=ax),
                figsize=(5.0, 5.0),
            )
        )
    if x is not None:
        shown.append(
            Figure(
                "latent.png",
                "Posterior means of the examples in the latent space, "
                "coloured by label (first two principal components when K > 2)",
                "fit.plot_latent(x, labels)" if labels is not None else "fit.plot_latent(x)",
                lambda ax: fit.plot_latent(x, labels, ax=ax),
                figsize=(5.5, 4.5),
            )
        )
    if images and x is not None and len(x) > 1:
        i, j = 0, 1
        if labels is not None:
            labels = np.asarray(labels)
            others = np.flatnonzero(labels != labels[0])
            j = int(others[0]) if others.size else 1
        shown.append(
            Figure(
                "interpolation.png",
                f"Decoded means along the line in z from example {i} to example {j}",
                f"fit.plot_interpolation(x[{i}], x[{j}], steps=10)",
                lambda ax: fit.plot_interpolation(x[i], x[j], steps=10, ax=ax),
                figsize=(7.0, 1.4),
            )
        )
    if len(fit.losses):
        shown.append(
            Figure(
                "loss.png",
                "Training loss per epoch (negative ELBO per example) "
                "with its running mean, and the validation loss",
                "fit.plot_loss()",
                lambda ax: fit.plot_loss(ax=ax),
                figsize=(6.0, 3.5),
            )
        )
    return shown
