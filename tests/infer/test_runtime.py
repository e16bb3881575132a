"""Tests for probmodels.infer.runtime: the lock, the caller's random states and parameter
store, threads, progress, seed streams."""

import random
import threading

import numpy as np
import pyro
import pytest
import torch

import probmodels as pm
from probmodels.infer.runtime import (limit_threads, pyro_section, resolve_progress, resolve_seed,
                                      seed_stream)


def _series(seed, n=120):
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 0.3 + 0.5 * y[t - 1] - 0.2 * y[t - 2] + rng.standard_normal()
    return y


def test_the_section_leaves_random_states_and_the_param_store_as_they_were():
    pyro.clear_param_store()
    mine = pyro.param("my_weight", torch.tensor([1.5, -2.0]))
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    expected = (torch.rand(2), np.random.rand(2), random.random())
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    with pyro_section(seed=5, num_threads=1):
        assert "my_weight" not in pyro.get_param_store()   # the call starts with an empty store
        pyro.param("sigma_shape", torch.ones(1))
        torch.rand(100), np.random.rand(100), random.random()
    assert torch.equal(torch.rand(2), expected[0])
    np.testing.assert_array_equal(np.random.rand(2), expected[1])
    assert random.random() == expected[2]
    assert set(pyro.get_param_store()) == {"my_weight"}
    assert torch.equal(pyro.param("my_weight"), mine)
    pyro.clear_param_store()


@pytest.mark.parametrize("method", ["exact", "svi"])
def test_a_fit_keeps_the_callers_pyro_params_and_random_state(method):
    pyro.clear_param_store()
    pyro.param("user_param", torch.tensor(3.0))
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    options = {"steps": 150} if method == "svi" else {}
    pm.BayesianAR(order=2).fit(_series(0), seed=3, method=method, progress=False, **options)
    assert torch.equal(torch.rand(2), expected)
    assert list(pyro.get_param_store()) == ["user_param"]
    assert pyro.param("user_param").item() == 3.0
    pyro.clear_param_store()


def test_fits_from_four_threads_equal_the_same_fits_one_after_another():
    """The two concurrent multivariate-normal SVI fits that gave phi = (-0.50, 0.14) for a
    true (-0.2, 0.4): serialised by the lock, each equals its sequential result."""
    series = [_series(s) for s in range(4)]

    def work(i):
        return pm.BayesianAR(order=2).fit(series[i], seed=i, method="svi", guide="multivariate_normal",
                                          steps=200, num_samples=200, progress=False)

    sequential = [work(i) for i in range(4)]
    results = [None] * 4
    errors = []

    def run(i):
        try:
            results[i] = work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for a, b in zip(sequential, results):
        for k in ("mu", "phi", "sigma"):
            np.testing.assert_array_equal(a.draws[k], b.draws[k])


def test_threads_and_progress_and_seeds():
    torch.set_num_threads(2)
    try:
        with limit_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with limit_threads(None):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert resolve_progress(False) is False and resolve_progress(True) is True
    assert resolve_progress(None) is False          # pytest's stderr is not a terminal
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        resolve_progress("yes")
    assert resolve_seed(5) == 5 and isinstance(resolve_seed(None), int)
    # a stream depends only on the seed and its key, not on other streams
    assert seed_stream(1, "series", "a") == seed_stream(1, "series", "a")
    assert len({seed_stream(1, "series", k) for k in ("a", "b", 3, 4)}) == 4
    assert seed_stream(1, "x") != seed_stream(2, "x")
    expected = int(np.random.SeedSequence(1, spawn_key=(7,)).generate_state(1)[0])
    assert seed_stream(1, 7) == expected
