"""VAE on scikit-learn's digits (binarized: pixel >= 8 of 16), against pixel models fitted
here on the same training images.

The VAE's score is ``fit.evaluate(x_test)["log_likelihood"]``, the importance-weighted
estimate of ``log p(x)`` per image (nats). References, fitted on the training part:

- independent Bernoulli pixels (each pixel's training frequency, add-one smoothed);
- a mixture of 10 Bernoulli-pixel components (one per digit class, unsupervised EM).

Both the VAE and a reference are scored on the same test images, so the comparison is
between two numbers for one fixed set: the noise that matters is the Monte Carlo error of
the importance-weighted estimate (``log_likelihood_mc_se``), not the spread over images.
"""

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import probmodels as pm


@pytest.fixture(scope="module")
def digits():
    """Binarized digits, 70/30 split stratified by the digit (1,257 / 540 images)."""
    bunch = load_digits()
    x = (bunch.data >= 8).astype(np.float32)
    x_train, x_test = train_test_split(x, test_size=0.3, stratify=bunch.target, random_state=0)
    return x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)


def independent_pixels_log_likelihood(x_train, x_test) -> float:
    """Mean log-likelihood per test image of independent Bernoulli pixels."""
    a, b = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    p = (a.sum(0) + 1.0) / (len(a) + 2.0)
    return float((b * np.log(p) + (1 - b) * np.log1p(-p)).sum(1).mean())


def bernoulli_mixture_log_likelihood(x_train, x_test, K=10, iterations=150, seed=0) -> float:
    """Mean log-likelihood per test image of a K-component Bernoulli mixture fitted by EM
    (add-one smoothed pixel probabilities, random soft start)."""
    a, b = (v.reshape(len(v), -1).astype(np.float64) for v in (x_train, x_test))
    resp = np.random.default_rng(seed).dirichlet(np.ones(K), len(a))
    for _ in range(iterations):
        nk = resp.sum(0)
        log_pi = np.log(nk / nk.sum())
        theta = (resp.T @ a + 1.0) / (nk[:, None] + 2.0)
        logp = log_pi + a @ np.log(theta).T + (1 - a) @ np.log1p(-theta).T
        resp = np.exp(logp - logsumexp(logp, 1, keepdims=True))
    logp = log_pi + b @ np.log(theta).T + (1 - b) @ np.log1p(-theta).T
    return float(logsumexp(logp, 1).mean())


def test_short_vae_fit_beats_independent_pixels(digits):
    x_train, x_test = digits
    reference = independent_pixels_log_likelihood(x_train, x_test)
    # 540 steps of batches of 64 (30 passes over the training part): a cheap fit, far
    # from converged (the default runs 4,400), but a latent code must already help
    fit = pm.VAE((1, 8, 8), latent_dim=8).fit(x_train, seed=0, progress=False, steps=540)
    result = fit.evaluate(x_test, num_samples=200)
    ours = result["log_likelihood"]
    # above the reference by 4 Monte Carlo standard errors of our estimate; a decoder that
    # ignored z would land on the reference itself (about -25 nats per image)
    assert ours > reference + 4 * result["log_likelihood_mc_se"], (
        f"VAE {ours:.3f} nats per image, independent pixels {reference:.3f}")


@pytest.mark.slow
def test_default_vae_fit_beats_a_bernoulli_mixture(digits):
    x_train, x_test = digits
    reference = bernoulli_mixture_log_likelihood(x_train, x_test)
    fit = pm.VAE((1, 8, 8), latent_dim=8).fit(x_train, seed=0, progress=False)
    result = fit.evaluate(x_test, num_samples=1000)
    ours = result["log_likelihood"]
    # 4 Monte Carlo standard errors, as above; the 10-component mixture, one prototype
    # per digit, is the classical model the continuous latent code should beat
    assert ours > reference + 4 * result["log_likelihood_mc_se"], (
        f"VAE {ours:.3f} nats per image, 10-component Bernoulli mixture {reference:.3f}")
