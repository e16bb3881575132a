"""Fixtures for the probmodels.nn tests: every test starts from a fixed torch seed."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture
def rng():
    """A fixed numpy generator for oracle inputs."""
    import numpy as np

    return np.random.default_rng(20240601)
