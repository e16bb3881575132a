"""DDPM on scikit-learn's two moons: the samples' squared MMD (``pm.mmd2``, the unbiased
statistic) to held-out points, against a scikit-learn GaussianMixture's samples and against
the spread of MMD^2 between two sets of real points (a permutation null).

6,000 points (noise 0.05), 4,000 to train and 2,000 held out, standardized on the
training part; every sample set has 1,000 points.
"""

import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import probmodels as pm

N = 1000  # points per sample set compared by MMD^2


@pytest.fixture(scope="module")
def moons():
    points, _ = make_moons(6000, noise=0.05, random_state=0)
    train, held_out = points[:4000], points[4000:]
    mean, sd = train.mean(0), train.std(0)
    return (train - mean) / sd, (held_out - mean) / sd


def permutation_null(train, held_out, rounds=20, seed=0):
    """MMD^2 between two random sets of N real points (pooled train + held-out): (rounds,)."""
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([train, held_out])
    values = []
    for _ in range(rounds):
        idx = rng.permutation(len(pooled))
        values.append(pm.mmd2(pooled[idx[:N]], pooled[idx[N:2 * N]]))
    return np.asarray(values)


def test_short_ddpm_fit_beats_a_four_component_gaussian_mixture(moons):
    train, held_out = moons
    target = held_out[:N]
    mixture = SkGaussianMixture(4, covariance_type="full", random_state=0).fit(train)
    reference = pm.mmd2(mixture.sample(N)[0], target)
    # 2,000 steps (the default trains 7,000), 100 DDIM steps to sample: cheap, and still
    # bending along the moons, which four ellipses cannot
    fit = pm.DDPM((2,)).fit(train, seed=0, progress=False, steps=2000)
    ours = pm.mmd2(fit.sample(N, steps=100, seed=0), target)
    # better than the mixture by 4 sds of MMD^2 between two real sets of the same size
    # (the estimator's noise when the distributions agree, measured here)
    null_sd = permutation_null(train, held_out).std(ddof=1)
    assert ours < reference - 4 * null_sd, (
        f"DDPM MMD^2 {ours:.4f}, 4-component GaussianMixture {reference:.4f}, null sd {null_sd:.4f}")


@pytest.mark.slow
def test_default_ddpm_fit_is_close_to_real_points(moons):
    train, held_out = moons
    fit = pm.DDPM((2,)).fit(train, seed=0, progress=False)
    ours = pm.mmd2(fit.sample(N, seed=0), held_out[:N])          # ancestral, all T steps
    null = permutation_null(train, held_out)
    # within 4 null sds of the null mean: at 1,000 points, the default fit's samples are
    # nearly indistinguishable from real ones by this statistic
    bound = null.mean() + 4 * null.std(ddof=1)
    assert ours <= bound, f"DDPM MMD^2 {ours:.4f} > real-vs-real mean + 4 sd = {bound:.4f}"
