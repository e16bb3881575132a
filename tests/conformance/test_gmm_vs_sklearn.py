"""GaussianMixture against scikit-learn's GaussianMixture on iris, wine, breast_cancer and
digits (standardized on the training part; digits reduced by PCA).

Every case is a 70/30 split stratified by the class label (``random_state=0``). Three
numbers per case, each against a reference fitted in the test:

- held-out log-likelihood per point: ``fit.score(x_test)`` (the log posterior predictive
  density) against scikit-learn's ``score`` (the log density at its maximum-likelihood
  fit, best of ``n_init=5``);
- the labels: ``fit.predict(x_train)`` against scikit-learn's EM started at our posterior
  means, i.e. the same mode. Both are the argmax of the responsibilities of nearly the
  same parameters, so only points near a decision boundary may differ;
- BIC: ``fit.bic()`` against scikit-learn's ``bic`` of a thorough maximum-likelihood fit.

Agreement with the true classes is not compared tightly: a mixture maximises the
likelihood, not the class agreement. On iris (full) the higher-likelihood mode
(BIC 555 against scikit-learn's 582 from five starts) matches the species less well.
"""

import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import probmodels as pm

#: posterior draws kept per fit outside the issue's iris case (which runs the defaults):
#: score, predict and bic cost time in proportion to the draws; 1,000 give the posterior
#: predictive density per point to well under 0.01 nats here
FEWER_DRAWS = {"num_samples": 1000}


def split(name: str, num_pca: int | None = None):
    """(x_train, x_test, y_train): 70/30 stratified, standardized on the training part."""
    bunch = getattr(datasets, f"load_{name}")()
    x_train, x_test, y_train, _ = train_test_split(
        bunch.data, bunch.target, test_size=0.3, stratify=bunch.target, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    if num_pca is not None:
        pca = PCA(num_pca, random_state=0).fit(x_train)
        x_train, x_test = pca.transform(x_train), pca.transform(x_test)
    return x_train, x_test, y_train


class Case:
    """One data set and model, its fit, and the scikit-learn references (built once)."""

    def __init__(self, name, K, covariance, num_pca=None, options=None):
        self.x_train, self.x_test, self.y_train = split(name, num_pca)
        self.K, self.covariance = K, covariance
        # the reference of the issue: scikit-learn's defaults with five starts
        self.sklearn = SkGaussianMixture(K, covariance_type=covariance, n_init=5,
                                         random_state=0).fit(self.x_train)
        # the fit must succeed without error or warning, except the k-hat warning (the
        # guide's own diagnostic, legal output and not what these tests are about)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            self.fit = pm.GaussianMixture(K, covariance=covariance).fit(
                self.x_train, seed=0, progress=False, **(options or {}))
        unexpected = [str(w.message) for w in record if "PSIS check" not in str(w.message)]
        assert not unexpected, unexpected

    def sklearn_at_our_mode(self) -> SkGaussianMixture:
        """scikit-learn's EM started at our posterior means: the maximum-likelihood fit of
        the same mode."""
        m = self.fit.posterior_means()
        cov = m["cov"]
        precisions = (np.linalg.inv(cov) if self.covariance == "full"
                      else 1.0 / np.diagonal(cov, axis1=1, axis2=2))
        return SkGaussianMixture(self.K, covariance_type=self.covariance, weights_init=m["pi"],
                                 means_init=m["mu"], precisions_init=precisions,
                                 random_state=0).fit(self.x_train)


CI_CASES = {
    # the required case: iris, K = 3, full and diag, the default fit
    "iris-full": ("iris", 3, "full"),
    "iris-diag": ("iris", 3, "diag"),
    "wine-diag": ("wine", 3, "diag", None, FEWER_DRAWS),
    "breast_cancer-diag": ("breast_cancer", 2, "diag", None, FEWER_DRAWS),
}
SLOW_CASES = {
    "wine-full": ("wine", 3, "full", None, FEWER_DRAWS),
    "breast_cancer-pca5-full": ("breast_cancer", 2, "full", 5, FEWER_DRAWS),
    "digits-pca8-diag": ("digits", 10, "diag", 8, FEWER_DRAWS),
    "digits-pca6-full": ("digits", 10, "full", 6, FEWER_DRAWS),
}
#: cases where the maximum of the likelihood is well defined and found by both
#: libraries: with full covariances on a few hundred points in 13 dimensions (wine),
#: a component on a handful of points has an unbounded likelihood; only the
#: scikit-learn reg_covar and our EM's ridge keep it finite, and there is no maximum
#: to agree on
BIC_CASES = ["iris-diag", "wine-diag", "breast_cancer-diag", "digits-pca8-diag"]

PARAMS = [pytest.param(k, id=k) for k in CI_CASES] + [
    pytest.param(k, id=k, marks=pytest.mark.slow) for k in SLOW_CASES]

_cache: dict[str, Case | Exception] = {}


@pytest.fixture
def case(request):
    """The fitted case, cached: one fit serves the three checks (a fit that raises is not
    retried; each check fails with its error)."""
    key = request.param
    if key not in _cache:
        try:
            _cache[key] = Case(*{**CI_CASES, **SLOW_CASES}[key])
        except Exception as exc:  # reported by every check of the case
            _cache[key] = exc
    if isinstance(_cache[key], Exception):
        exc = _cache[key]
        pytest.fail(f"the {key} fit raised {type(exc).__name__}: {str(exc)[:400]}")
    return _cache[key]


@pytest.mark.parametrize("case", PARAMS, indirect=True)
def test_held_out_log_likelihood_at_least_sklearns(case):
    """With iris-full and iris-diag, the issue's required case: no error, and at least
    scikit-learn's (n_init=5) held-out log-likelihood per point - 0.02."""
    ours = case.fit.score(case.x_test)
    theirs = case.sklearn.score(case.x_test)
    # the bar: the posterior predictive density is at least as good on new
    # points as the maximum-likelihood plug-in, less 0.02 nats per point (the Monte
    # Carlo error of our score with 1,000 or more draws is below 0.005 here)
    assert ours >= theirs - 0.02, f"held-out log-likelihood per point {ours:.4f} < sklearn's {theirs:.4f} - 0.02"


@pytest.mark.parametrize("case", PARAMS, indirect=True)
def test_predicted_labels_match_sklearn_at_the_same_mode(case):
    ours = case.fit.predict(case.x_train)
    theirs = case.sklearn_at_our_mode().predict(case.x_train)
    # our posterior means and the maximum likelihood differ by a fraction of a posterior
    # sd, which moves only points within that distance of a boundary: an ARI of 0.9
    # allows about 3% of the points to change side
    ari = adjusted_rand_score(theirs, ours)
    assert ari >= 0.9, f"ARI {ari:.3f} between fit.predict and sklearn's EM at the same mode"
    # and the clustering means something: well above chance (0) against the classes
    assert adjusted_rand_score(case.y_train, ours) > 0.3


@pytest.mark.parametrize("case", [p for p in PARAMS if p.id in BIC_CASES], indirect=True)
def test_bic_equals_sklearns_at_the_maximum_likelihood(case):
    x = case.x_train
    # a thorough reference: 20 starts, converged to a relative change of 1e-8 per point
    reference = SkGaussianMixture(case.K, covariance_type=case.covariance, n_init=20, tol=1e-8,
                                  max_iter=2000, random_state=0).fit(x)
    ours, theirs = case.fit.bic(), reference.bic(x)
    # the same maximum: EM's stopping rule and the regularisations (sklearn's reg_covar
    # 1e-6, our ridge 1e-6 of each variance) move the maximum log-likelihood by far less
    # than 0.5 nats, i.e. 1 unit of BIC; a wrong parameter count moves it by log(n) >= 4.6
    # per parameter. One-sided: where local maxima are many, our EM (plus EM from the
    # posterior means) can find a higher maximum than sklearn's 20 starts (wine-diag:
    # 3887.0 against 3895.1), a lower BIC that is no error
    assert ours <= theirs + 1.0, f"BIC {ours:.2f} against sklearn's {theirs:.2f}"
