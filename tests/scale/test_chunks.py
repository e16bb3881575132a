"""Tests for probmodels.scale.chunks: draw slices bounded by CHUNK_NUMBERS, and the GMM's
draws x data computations giving the same numbers however they are chunked."""

import numpy as np
import pytest

import probmodels as pm
import probmodels.scale.chunks as chunks_module
from probmodels.scale.chunks import chunked, draw_slices


def test_draw_slices_cover_every_draw_once_within_the_budget(monkeypatch):
    monkeypatch.setattr(chunks_module, "CHUNK_NUMBERS", 100)
    slices = draw_slices(23, 30)                  # 3 draws of 30 numbers fit in 100
    assert [(s.start, s.stop) for s in slices] == [(i, min(i + 3, 23)) for i in range(0, 23, 3)]
    assert [(s.start, s.stop) for s in draw_slices(4, 1000)] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    monkeypatch.setattr(chunks_module, "CHUNK_NUMBERS", 10**9)
    assert draw_slices(23, 30) == [slice(0, 23)]
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


@pytest.mark.filterwarnings("ignore:PSIS check:UserWarning")
def test_gmm_results_are_the_same_chunked_one_draw_at_a_time_as_in_one_piece(monkeypatch):
    """predict_proba, log_likelihood, score and bic reduce over chunks of draws (bic and
    score no longer build the (draws, data) array); with a chunk of one draw they equal the
    one-piece computation to float64 rounding (sums in another order: 1e-12 relative)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.6, (40, 2)), rng.normal(2, 0.6, (40, 2))])
    fit = pm.GaussianMixture(2).fit(x, seed=0, progress=False, num_starts=1, steps=5,
                                    num_samples=30, jit_compile=False, resample=False)

    def everything():
        return (fit.predict_proba(x[:25]), fit.log_likelihood(x[:25]), fit.score(x[:25]),
                fit.bic(num_starts=1))

    monkeypatch.setattr(chunks_module, "CHUNK_NUMBERS", 10**9)
    whole = everything()
    calls = []
    original = chunks_module.draw_slices
    monkeypatch.setattr(chunks_module, "CHUNK_NUMBERS", 1)
    monkeypatch.setattr("probmodels.models.gmm.sites.draw_slices",
                        lambda *a: calls.append(a) or original(*a))
    pieces = everything()
    assert calls and all(len(original(*a)) == a[0] for a in calls)   # one draw a chunk
    for a, b in zip(whole, pieces):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    # the unchunked oracle: BIC from the (draws, data) array, as before the change
    ll = fit.log_likelihood().reshape(30, -1)
    S = ll.shape[0]
    expected_score = float(np.mean(np.logaddexp.reduce(fit.log_likelihood(x[:25]).reshape(S, -1), 0)
                                   - np.log(S)))
    np.testing.assert_allclose(pieces[2], expected_score, rtol=1e-12)
    assert pieces[3] <= -2 * ll.sum(-1).max() + fit.gmm._layout(2).num_parameters() * np.log(80)
