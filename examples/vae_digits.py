"""A variational autoencoder on the shipped 8x8 hand-written digits.

    PYTHONPATH=. .venv/bin/python examples/vae_digits.py [OUT_DIR]

Binarizes the digits (pixel >= 8 of 16 is 1), trains the default VAE on the
first 1,500 images, reports the test ELBO and importance-weighted
log-likelihood on the last 297, and writes reconstructions, samples, a latent
scatter and the fit itself to OUT_DIR (default ./vae_digits_out).
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import probmodels as pm  # noqa: E402
from probmodels.plots import plot_image_grid  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else "vae_digits_out")
out.mkdir(parents=True, exist_ok=True)

images, labels = pm.datasets.load_digits()
x = (images >= 8).astype(np.float32)  # (1797, 8, 8), accepted for input_shape=(1, 8, 8)
x_train, x_test = x[:1500], x[1500:]

vae = pm.VAE(input_shape=(1, 8, 8), latent_dim=8, likelihood="bernoulli")
fit = vae.fit(x_train, seed=0)
scores = fit.evaluate(x_test, num_samples=1000)
print(f"trained {fit.diagnostics['epochs']} epochs in {fit.diagnostics['seconds']:.1f} s "
      f"(best validation epoch {fit.diagnostics['best_epoch']})")
print(f"test ELBO {scores['elbo']:.2f} nats per image, "
      f"log-likelihood (IWAE, 1000 draws) {scores['log_likelihood']:.2f} nats")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
fit.plot_reconstructions(x_test, n=10, ax=axes[0])
fit.plot_samples(36, seed=0, ax=axes[1])
fit.plot_latent(x_test, labels[1500:], ax=axes[2])
fig.savefig(out / "vae_digits.png", dpi=110)

path = fit.interpolate(x_test[0], x_test[1], steps=8)
fig, ax = plt.subplots(figsize=(8, 1.5))
plot_image_grid(path, ncols=8, ax=ax).set_title("interpolation in z between two test digits")
fig.savefig(out / "interpolation.png", dpi=110)

saved = fit.save(out / "vae_fit.npz", overwrite=True)
back = pm.load(saved)
same = np.array_equal(back.reconstruct(x_test[:5]), fit.reconstruct(x_test[:5]))
print(f"reloaded with pm.load: identical reconstructions: {same}")
print(f"figures and fit written to {out}/")
