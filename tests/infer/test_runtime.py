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


# --------------------------------------- every model's calls from threads, and the caller's RNG


@pytest.fixture(scope="module")
def tiny():
    """Tiny data and already trained VAE and DDPM fits (the threads test samples from them)."""
    import warnings

    rng = np.random.default_rng(3)
    x_gmm = np.concatenate([rng.normal(-2, 0.5, 60), rng.normal(2, 0.5, 60)])[:, None]
    images = (rng.random((64, 1, 4, 4)) < 0.3).astype("float32")
    moons = rng.standard_normal((64, 2)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # 8 steps are too few to converge
        vae = pm.VAE((1, 4, 4), latent_dim=2, hidden=(8,)).fit(
            images, steps=8, batch_size=32, validation=None, seed=0, progress=False)
        ddpm = pm.DDPM((2,), timesteps=10, hidden=8, depth=1).fit(
            moons, steps=8, batch_size=32, seed=0, progress=False)
    return {"y": _series(7, 80), "x_gmm": x_gmm, "images": images, "moons": moons,
            "vae": vae, "ddpm": ddpm}


GMM_TINY = dict(num_starts=1, steps=5, num_samples=100, jit_compile=False, resample=False)


def _calls(tiny, seed):
    """The four models' calls, each a function of nothing returning numpy arrays."""
    return {
        "ar fit": lambda: pm.BayesianAR(2).fit(tiny["y"], seed=seed, num_samples=200,
                                               progress=False).draws["phi"],
        "gmm fit + predict_proba": lambda: (lambda f: (f.draws["mu"], f.predict_proba()))(
            pm.GaussianMixture(2).fit(tiny["x_gmm"], seed=seed, progress=False, **GMM_TINY)),
        "vae sample": lambda: tiny["vae"].sample(5, seed=seed, mean=False),
        "ddpm sample": lambda: tiny["ddpm"].sample(5, seed=seed),
    }


def _flat(value):
    return [np.asarray(v) for v in value] if isinstance(value, tuple) else [np.asarray(value)]


@pytest.mark.filterwarnings("ignore:PSIS check:UserWarning")  # 5 GMM steps: not the point
def test_four_threads_of_every_model_equal_the_same_calls_one_after_another(tiny):
    """4 threads, each making the four models' calls (AR fit, GMM fit and predict_proba,
    VAE sample, DDPM sample) in a different order with its own seeds: every result is
    bit-identical to the same call made sequentially (concurrent Pyro sections used to
    fail with Pyro internals or give wrong posteriors)."""
    names = list(_calls(tiny, 0))
    sequential = {(i, k): _flat(_calls(tiny, 10 + i)[k]()) for i in range(4) for k in names}
    results, errors = {}, []
    barrier = threading.Barrier(4)

    def run(i):
        try:
            calls = _calls(tiny, 10 + i)
            barrier.wait()
            for k in names[i:] + names[:i]:     # thread i starts with call i
                results[i, k] = _flat(calls[k]())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(results) == set(sequential)
    for key, expected in sequential.items():
        for a, b in zip(expected, results[key]):
            np.testing.assert_array_equal(a, b, err_msg=str(key))
    # and the seeds matter (the comparison can fail)
    assert not np.array_equal(sequential[0, "ddpm sample"][0], sequential[1, "ddpm sample"][0])


def _rng_calls(tiny):
    return {
        "ar fit exact": lambda: pm.BayesianAR(2).fit(tiny["y"], seed=1, num_samples=100,
                                                     progress=False),
        "ar fit svi, seed=None": lambda: pm.BayesianAR(2).fit(
            tiny["y"], method="svi", steps=20, num_samples=100, progress=False),
        "gmm fit": lambda: pm.GaussianMixture(2).fit(tiny["x_gmm"], seed=1, progress=False,
                                                     **GMM_TINY),
        "gmm predict_proba": lambda: tiny["gmm"].predict_proba(tiny["x_gmm"][:5]),
        "vae fit": lambda: tiny["vae model"].fit(
            tiny["images"], steps=4, batch_size=32, validation=None, seed=1, progress=False),
        "vae sample": lambda: tiny["vae"].sample(3, seed=1),
        "ddpm fit": lambda: tiny["ddpm model"].fit(
            tiny["moons"], steps=4, batch_size=32, seed=1, progress=False),
        "ddpm sample": lambda: tiny["ddpm"].sample(3, seed=None),
    }


@pytest.mark.parametrize("name", list(_rng_calls({})))
def test_every_models_calls_leave_the_callers_torch_numpy_and_python_random_states(tiny, name):
    import warnings

    if "gmm" not in tiny:
        tiny["gmm"] = pm.GaussianMixture(2).fit(tiny["x_gmm"], seed=0, progress=False, **GMM_TINY)
    # built before the caller's state is recorded: constructing a torch network draws its
    # initial weights from torch's generator, as torch.nn.Linear does (fit re-draws them
    # from its seed)
    tiny["vae model"] = pm.VAE((1, 4, 4), latent_dim=2, hidden=(8,))
    tiny["ddpm model"] = pm.DDPM((2,), timesteps=10, hidden=8, depth=1)

    def draws():
        return torch.rand(3), np.random.rand(3), random.random()

    torch.manual_seed(21)
    np.random.seed(21)
    random.seed(21)
    expected = draws()
    torch.manual_seed(21)
    np.random.seed(21)
    random.seed(21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # a few steps do not converge
        _rng_calls(tiny)[name]()
    got = draws()
    assert torch.equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]
