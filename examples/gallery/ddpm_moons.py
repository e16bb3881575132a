"""A DDPM on two moons: samples against the data, the denoising trajectory, bits/dim per timestep, the loss.

A quick version of ``examples/ddpm_moons.py`` (a short training run of a small
denoiser, so the samples are rougher than the example's): 4,000 standardised
points of two moons, T = 200 diffusion steps, and the negative ELBO of 500
held-out points split into its terms per timestep.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import probmodels as pm
from probmodels import plots

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
points, _ = pm.datasets.make_moons(4500, noise=0.05, seed=0)
z = (points - points[:4000].mean(0)) / points[:4000].std(0)
x_train, held_out = z[:4000], z[4000:]

fit = pm.DDPM(data_shape=(2,), timesteps=200).fit(x_train, seed=0, steps=1500, batch_size=256,
                                                  progress=False)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
plots.plot_ddpm_samples(fit, 1000, seed=0, data=held_out, ax=axes[0])
plots.plot_bits_per_timestep(fit, held_out, seed=0, ax=axes[1])
fig.savefig(out / "ddpm_moons_samples_bits.png", dpi=90)

fig, ax = plt.subplots(figsize=(12, 2.6), layout="constrained")
plots.plot_ddpm_trajectory(fit, 500, seed=0, ax=ax)
fig.savefig(out / "ddpm_moons_trajectory.png", dpi=90)

fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
fit.plot_loss(ax=ax)
fig.savefig(out / "ddpm_moons_loss.png", dpi=90)
