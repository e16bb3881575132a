"""A DDPM on two moons: fit, sample (ancestral and DDIM), plot, score, evaluate, save.

Run it with an output folder for the plots (a new temporary folder by default):

    python examples/ddpm_moons.py [OUT_DIR]

Steps: 10,000 points of two moons (noise 0.05), standardised per coordinate
with the training points' mean and standard deviation; the default DDPM
(T = 1000, linear schedule, epsilon prediction, TimeMLP 3x256, L_simple, EMA)
fitted on 8,000; 2,000 samples scored against the 2,000 held-out points by the
squared MMD; the negative ELBO of the held-out points in nats and bits per
dimension; plots of the samples and of a denoising trajectory; save and load.
About a minute on 2 idle CPU cores.
"""

import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt  # noqa: E402

import probmodels as pm  # noqa: E402
from probmodels.models.ddpm import DDPM, mmd2  # noqa: E402

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="ddpm_moons_"))
out.mkdir(parents=True, exist_ok=True)

points, _ = pm.datasets.make_moons(10_000, noise=0.05, seed=0)
mean, sd = points[:8000].mean(0), points[:8000].std(0)
z = (points - mean) / sd
x_train, held_out = z[:8000], z[8000:]

fit = DDPM(data_shape=(2,)).fit(x_train, seed=0)
print(f"trained {fit.diagnostics['steps']} steps in {fit.diagnostics['seconds']:.1f} s")

start = time.perf_counter()
samples = fit.sample(2000, seed=0)
print(f"2,000 ancestral samples (T = 1000) in {time.perf_counter() - start:.2f} s")
print(f"squared MMD to held-out points: ancestral {mmd2(samples, held_out):.4f}, "
      f"DDIM 50 steps {mmd2(fit.sample(2000, steps=50, seed=0), held_out):.4f} "
      f"(two real samples score about 0.001, a standard normal about 0.12)")

ev = fit.evaluate(held_out, seed=0)
print(f"held-out negative ELBO: {ev.nats:.3f} ± {ev.nats_se:.3f} nats per point, "
      f"{ev.bits_per_dim:.3f} ± {ev.bits_per_dim_se:.3f} bits per dimension (standardised units)")

fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
fit.plot_samples(2000, seed=0, data=held_out, ax=ax)
fig.savefig(out / "ddpm_moons_samples.png", dpi=110)
fig, ax = plt.subplots(figsize=(12, 2.8), layout="constrained")
fit.plot_trajectory(500, seed=0, ax=ax)
fig.savefig(out / "ddpm_moons_trajectory.png", dpi=110)

path = fit.save(out / "ddpm_moons_fit", overwrite=True)
again = pm.load(path)
assert (again.sample(100, seed=3) == fit.sample(100, seed=3)).all()

# the same model on a generated swiss roll (2-D spiral, noise 0.3), same defaults
roll = pm.datasets.make_swiss_roll(10_000, noise=0.3, seed=1)
roll = (roll - roll[:8000].mean(0)) / roll[:8000].std(0)
roll_fit = DDPM(data_shape=(2,)).fit(roll[:8000], seed=0)
roll_samples = roll_fit.sample(2000, seed=0)
print(f"swiss roll: trained in {roll_fit.diagnostics['seconds']:.1f} s, squared MMD to held-out "
      f"points {mmd2(roll_samples, roll[8000:]):.4f}")
fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
roll_fit.plot_samples(2000, seed=0, data=roll[8000:], ax=ax)
fig.savefig(out / "ddpm_swiss_roll_samples.png", dpi=110)
print(f"plots and fit written to {out}")
