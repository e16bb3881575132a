"""Conformance suite: every model on public data sets that ship with scikit-learn and
statsmodels, against references computed in the test (scikit-learn, statsmodels, our own
NUTS, simple baselines fitted here). No stored numbers, no network.

The default run is the CI set (about 3 minutes on a 2-core machine); heavier cases are
marked ``slow``.
"""

import numpy as np
import pandas as pd
import pyro
import pytest

import statsmodels.api as sm  # a test dependency, like scikit-learn


@pytest.fixture(autouse=True)
def _seed_and_clear():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


# ------------------------------------------------------------------ statsmodels series


def _quarterly(values, start="1959Q1"):
    return pd.Series(np.asarray(values, dtype=float),
                     index=pd.period_range(start, periods=len(values), freq="Q"))


def _load_series(name: str) -> pd.Series:
    """A regular, gap-free series from statsmodels' bundled data sets.

    ``infl``: quarterly US CPI inflation (macrodata, 1959Q1-2009Q3, 203 values).
    ``gdp_growth``: annualised quarterly real GDP growth, ``400 diff(log realgdp)`` (202).
    ``sunspots``: yearly sunspot activity 1700-2008 (309).
    ``co2``: Mauna Loa CO2. statsmodels ships it weekly (``W-SAT``, 2284 weeks with 59
    missing); the monthly means (``MS``) have 5 empty months, all before 1965, so the
    series starts in January 1965 (444 months, none missing; nothing interpolated).
    ``nile``: yearly Nile flow at Aswan 1871-1970 (100).
    """
    if name in ("infl", "gdp_growth"):
        macro = sm.datasets.macrodata.load_pandas().data
        if name == "infl":
            return _quarterly(macro["infl"])
        growth = 400.0 * np.diff(np.log(macro["realgdp"].to_numpy()))
        return _quarterly(growth, start="1959Q2")
    if name == "sunspots":
        data = sm.datasets.sunspots.load_pandas().data
        return pd.Series(data["SUNACTIVITY"].to_numpy(dtype=float),
                         index=pd.period_range("1700", periods=len(data), freq="Y"))
    if name == "co2":
        weekly = sm.datasets.co2.load_pandas().data["co2"]
        monthly = weekly.resample("MS").mean().loc["1965":]
        if monthly.isna().any() or monthly.index.freqstr != "MS":
            raise RuntimeError("the statsmodels co2 data changed: the monthly series has gaps")
        return monthly
    if name == "nile":
        data = sm.datasets.nile.load_pandas().data
        return pd.Series(data["volume"].to_numpy(dtype=float),
                         index=pd.period_range("1871", periods=len(data), freq="Y"))
    raise KeyError(name)


@pytest.fixture(scope="session")
def load_series():
    """The loader of :func:`_load_series` (a fixture, so test files need not import conftest)."""
    return _load_series
