"""Agreement of a fit's posterior with reference draws (posteriordb), as the issues define it.

A parameter agrees when

* its posterior mean is within ``0.1`` reference standard deviations of the
  reference mean, plus ``3`` times ArviZ's Monte Carlo standard error of the
  fit's mean (1,000 NUTS draws alone wander about 0.05 sd), and
* its posterior standard deviation is within 10% of the reference one, plus
  ``3 / sqrt(2 ESS)`` relative (the Monte Carlo error of an sd estimate).

Used by the tests and by ``benchmarks/``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["agreement", "load_posteriordb_draws"]


def load_posteriordb_draws(path: str | Path) -> dict[str, np.ndarray]:
    """Reference draws from a posteriordb ``.json.zip``: name -> all chains' draws, 1-D."""
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        chains = json.loads(zf.read(zf.namelist()[0]))
    return {
        name: np.concatenate([np.asarray(c[name], dtype=float) for c in chains])
        for name in chains[0]
    }


def agreement(
    draws: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    *,
    mean_tol: float = 0.1,
    sd_tol: float = 0.10,
) -> pd.DataFrame:
    """Compare a fit's draws with reference draws, parameter by parameter.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        The fit's draws of each scalar parameter, shape ``(chain, draw)``.
    reference : dict of str to numpy.ndarray
        Reference draws of the same names, 1-D.

    Returns
    -------
    pandas.DataFrame
        One row per parameter with ``mean_error`` (in reference sds), its
        allowance ``mean_allowed``, ``sd_ratio`` (fit / reference), its allowed
        deviation ``sd_allowed``, ESS, and ``ok``.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
        import arviz as az
    rows = {}
    for name, ref in reference.items():
        x = np.asarray(draws[name], dtype=float)
        if x.ndim != 2:
            raise ValueError(f"draws[{name!r}] must have shape (chain, draw), got {x.shape}.")
        ref_mean, ref_sd = float(np.mean(ref)), float(np.std(ref, ddof=1))
        mcse = float(az.mcse(x, method="mean"))
        ess = float(az.ess(x, method="bulk"))
        mean_err = abs(float(x.mean()) - ref_mean) / ref_sd
        mean_allowed = mean_tol + 3.0 * mcse / ref_sd
        sd_ratio = float(x.std(ddof=1)) / ref_sd
        sd_allowed = sd_tol + 3.0 / np.sqrt(2.0 * ess)
        rows[name] = {
            "mean": float(x.mean()),
            "ref_mean": ref_mean,
            "mean_error": mean_err,
            "mean_allowed": mean_allowed,
            "sd": float(x.std(ddof=1)),
            "ref_sd": ref_sd,
            "sd_ratio": sd_ratio,
            "sd_allowed": sd_allowed,
            "ess": ess,
            "ok": bool(mean_err <= mean_allowed and abs(sd_ratio - 1.0) <= sd_allowed),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
