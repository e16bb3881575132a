"""A VAE on the 8x8 digits: reconstructions, samples, the latent space, an interpolation, the losses.

A quick version of ``examples/vae_digits.py`` (a short training run, so the
pictures are blurrier than the example's): binarized digits, a 2-dimensional
latent space so that the scatter needs no projection, 1,500 training images
and 297 held out.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import probmodels as pm
from probmodels import plots

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
images, labels = pm.datasets.load_digits()
x = (images >= 8).astype(np.float32)           # (1797, 8, 8) in {0, 1}
x_train, x_test = x[:1500], x[1500:]

vae = pm.VAE(input_shape=(1, 8, 8), latent_dim=2, likelihood="bernoulli")
fit = vae.fit(x_train, seed=0, steps=600, batch_size=128, validation=0.1, progress=False)

fig, ax = plt.subplots(figsize=(9, 2.6), layout="constrained")
plots.plot_vae_reconstructions(fit, x_test, n=10, ax=ax)
fig.savefig(out / "vae_reconstructions.png", dpi=90)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
plots.plot_vae_samples(fit, 36, seed=0, ax=axes[0])
plots.plot_vae_latent(fit, x_test, labels[1500:], ax=axes[1])
fig.savefig(out / "vae_samples_latent.png", dpi=90)

fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), layout="constrained",
                         gridspec_kw={"width_ratios": [2, 1]})
zero, one = (x_test[labels[1500:] == d][0] for d in (0, 1))   # the first test 0 and 1
plots.plot_vae_interpolation(fit, zero, one, steps=8, ax=axes[0])
plots.plot_vae_losses(fit, window=10, ax=axes[1])
fig.savefig(out / "vae_interpolation_losses.png", dpi=90)
