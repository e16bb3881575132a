"""Fixtures for the plot tests: the Agg backend, fixed seeds, one thread, tiny fits."""

import matplotlib
import numpy as np
import pyro
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _seed_clear_and_close():
    import matplotlib.pyplot as plt

    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()
    plt.close("all")


@pytest.fixture
def ax():
    """A fresh Axes on a figure outside pyplot (nothing to close)."""
    from matplotlib.figure import Figure

    return Figure().add_subplot()


def simulate_ar2(n: int = 160, seed: int = 0) -> np.ndarray:
    """An AR(2) series with mu = 1, phi = (0.6, -0.3), sigma = 0.5."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n + 50)
    for t in range(2, n + 50):
        y[t] = 1.0 + 0.6 * y[t - 1] - 0.3 * y[t - 2] + 0.5 * rng.standard_normal()
    return y[50:]
