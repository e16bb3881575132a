"""Fixtures for the model tests: fixed seeds and a clean Pyro parameter store."""

import json
from pathlib import Path

import numpy as np
import pyro
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _seed_and_clear():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="session")
def ark_data():
    """posteriordb arK: y (T = 200) and the reference draws."""
    from probmodels._reference import load_posteriordb_draws

    y = np.asarray(json.loads((DATA / "arK.json").read_text())["y"], dtype=float)
    return y, load_posteriordb_draws(DATA / "arK-arK.json.zip")
