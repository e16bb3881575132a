"""The demo's VAE section: binarized 8x8 digits, ELBO and importance-sampled log-likelihood."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from probmodels.datasets import load_digits
from probmodels.models.vae import VAE
from probmodels.report._base import ReportOptions, ReportSection, SectionFolder, markdown_table, save_figure

__all__ = ["binarized_digits", "section"]


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
    fit_options = {"steps": 420} if options.quick else {}
    fit = vae.fit(x_train, seed=seed, progress=False, **fit_options)
    num_samples = 200 if options.quick else 1000
    test = fit.evaluate(x_test, num_samples=num_samples)
    train = fit.evaluate(x_train, num_samples=num_samples)
    d = fit.diagnostics
    table = pd.DataFrame(
        {"ELBO (nats)": [train["elbo"], test["elbo"]],
         f"log-likelihood, IWAE {test['num_samples']} draws (nats)":
             [train["log_likelihood"], test["log_likelihood"]],
         "images": [len(x_train), len(x_test)]},
        index=pd.Index(["train (first 1,500)", "test (last 297)"], name="split"))
    table.to_csv(folder.path("metrics.csv"))
    fit.save(folder.path("fit.npz"))
    save_figure(lambda ax: fit.plot_reconstructions(x_test, n=12, ax=ax),
                folder.path("reconstructions.png"), figsize=(7.0, 1.8))
    save_figure(lambda ax: fit.plot_samples(64, seed=seed, ax=ax), folder.path("samples.png"),
                figsize=(5.0, 5.0))
    save_figure(lambda ax: fit.plot_latent(x_test, labels[1500:], ax=ax), folder.path("latent.png"),
                figsize=(5.5, 4.5))

    def loss_plot(ax):
        ax.plot(fit.losses, label="train")
        if fit.val_losses.size:
            ax.plot(fit.val_losses, label="validation")
        ax.axvline(d["best_epoch"], color="0.6", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("negative ELBO per image (nats)")
        ax.legend(frameon=False)
        return ax

    save_figure(loss_plot, folder.path("loss.png"), figsize=(6.0, 3.5))
    loss = ("`TraceMeanField_ELBO` (Pyro's `Trace_ELBO` with the Gaussian KL in closed form)"
            if fit.vae.analytic_kl else "`Trace_ELBO`")
    text = f"""\
Data: `probmodels.datasets.load_digits()`, binarized (pixel >= 8 of 16 is 1); the
first 1,500 images train, the last 297 test.

`pm.VAE(input_shape=(1, 8, 8), latent_dim=8, likelihood="bernoulli").fit(x_train, seed={seed}{", steps=420" if options.quick else ""})`:
{d["epochs"]} epochs ({"stopped early, " if d["stopped_early"] else ""}best validation epoch {d["best_epoch"]}),
{d["steps"]} SVI steps with {loss}, {d["seconds"]:.1f} s. Table: [vae/metrics.csv](vae/metrics.csv).

{markdown_table(table, digits=2)}

![reconstructions](vae/reconstructions.png)

![samples](vae/samples.png)

![latent space](vae/latent.png)

![loss](vae/loss.png)

The fit: [vae/fit.npz](vae/fit.npz), read with `probmodels.load`.
"""
    return ReportSection(title="VAE: binarized hand-written digits", markdown=text, files=folder.files)
