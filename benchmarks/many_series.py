"""Thousands of series: BayesianAR.fit_many against a statsmodels AutoReg loop.

Simulates ``--series`` (default 10,000) AR(2) series (phi = (0.6, -0.3), mu = 1,
sigma = 1) of lengths 150-250 with different weekly start dates, in long format
``unique_id, ds, y``, then in one process and one run:

- ``AutoReg loop``: for each series, ``AutoReg(y, lags=2, trend="c").fit()`` and
  its 90% confidence intervals (``conf_int(0.1)``) -- what a statsmodels user writes;
- ``fit_many``: ``BayesianAR(2).fit_many(df, seed=0, hdi_prob=0.9)`` (1,000 exact
  posterior draws per series, summarised chunk by chunk) and its ``summary()``.

It prints both times and their ratio, the process's peak memory (``ru_maxrss``), and
the share of series whose 90% interval covers the true phi_1 and phi_2.

Targets: fit_many time / AutoReg loop time <= 1; peak memory < 2 GB; coverage of
each phi in [85%, 95%].

A second part fits the wide-DataFrame path, ``fit(df)`` on 100 aligned series of
150 steps with the default 4,000 draws, then ``to_arviz()``, and prints the growth of
peak memory each causes beside the size of the exported arrays themselves (it was
4.1 GB before the exact method and the chunked draws x data arrays).

Usage::

    PYTHONPATH=. python benchmarks/many_series.py [--series N] [--skip-wide]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
import torch

import probmodels as pm

PHI = (0.6, -0.3)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate(num: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids, ds, ys = [], [], []
    start = pd.Timestamp("2015-01-04")
    for s in range(num):
        T = int(rng.integers(150, 251))
        e = rng.standard_normal(T + 50)
        y = np.zeros(T + 50)
        for t in range(2, T + 50):
            y[t] = 1.0 + PHI[0] * y[t - 1] + PHI[1] * y[t - 2] + e[t]
        ids.append(np.full(T, s))
        ds.append(pd.date_range(start + pd.Timedelta(weeks=int(rng.integers(0, 100))), periods=T,
                                freq="W-SUN"))
        ys.append(y[50:])
    return pd.DataFrame({"unique_id": np.concatenate(ids), "ds": np.concatenate(ds),
                         "y": np.concatenate(ys)})


def autoreg_loop(df: pd.DataFrame) -> tuple[float, np.ndarray]:
    from statsmodels.tsa.ar_model import AutoReg

    start = time.perf_counter()
    covered = []
    for _, group in df.groupby("unique_id", sort=False):
        res = AutoReg(group["y"].to_numpy(), lags=2, trend="c").fit()
        ci = res.conf_int(0.1)[1:3]
        covered.append([ci[i, 0] <= PHI[i] <= ci[i, 1] for i in range(2)])
    return time.perf_counter() - start, np.asarray(covered)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--skip-wide", action="store_true", help="skip the wide-DataFrame part")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    df = simulate(args.series)
    before = peak_mb()
    pm.BayesianAR(2).fit_many(df[df.unique_id < 20], seed=0, progress=False)   # the first fit

    loop_seconds, loop_cover = autoreg_loop(df)
    start = time.perf_counter()
    fit = pm.BayesianAR(2).fit_many(df, seed=0, hdi_prob=0.9, progress=False)
    table = fit.summary()
    ours_seconds = time.perf_counter() - start
    peak = peak_mb()

    cover = {}
    for i, name in enumerate(("phi[1]", "phi[2]")):
        rows = table.xs(name, level="parameter")
        cover[name] = float(((rows["hdi_5%"] <= PHI[i]) & (PHI[i] <= rows["hdi_95%"])).mean())
    ratio = ours_seconds / loop_seconds
    print(f"{args.series} AR(2) series of 150-250 steps ({len(df)} rows); torch "
          f"{torch.__version__}, 1 thread")
    print(f"AutoReg loop (fit + conf_int): {loop_seconds:.1f} s; 90% CI coverage "
          f"phi[1] {loop_cover[:, 0].mean():.1%}, phi[2] {loop_cover[:, 1].mean():.1%}")
    print(f"fit_many (1000 exact draws per series) + summary: {ours_seconds:.1f} s")
    print(f"  time ratio fit_many / AutoReg loop = {ratio:.2f}  (target <= 1: "
          f"{'met' if ratio <= 1 else 'MISSED'})")
    print(f"  peak memory of the process {peak:.0f} MB (before the fits {before:.0f} MB)  "
          f"(target < 2048 MB: {'met' if peak < 2048 else 'MISSED'})")
    for name, c in cover.items():
        print(f"  90% HDI covers the true {name} for {c:.1%} of series  (target 85-95%: "
              f"{'met' if 0.85 <= c <= 0.95 else 'MISSED'})")
    print(f"  flagged series: {len(fit.flagged())}")

    if not args.skip_wide:
        rng = np.random.default_rng(1)
        wide = pd.DataFrame({f"s{j}": simulate(1, seed=int(rng.integers(1 << 30)))["y"].to_numpy()[:150]
                             for j in range(100)})
        before = peak_mb()
        start = time.perf_counter()
        fit = pm.BayesianAR(2).fit(wide, seed=0, progress=False)
        fit_seconds, fit_growth = time.perf_counter() - start, max(peak_mb() - before, 0)
        idata = fit.to_arviz()
        size = sum(np.asarray(idata[g]["y"]).nbytes for g in ("log_likelihood", "posterior_predictive"))
        print(f"wide fit(df) of 100 series x 150 steps, 4000 draws: {fit_seconds:.1f} s, peak memory "
              f"grew by {fit_growth:.0f} MB; + to_arviz: {time.perf_counter() - start:.1f} s in all, "
              f"peak grew by {max(peak_mb() - before, 0):.0f} MB in all, of which the exported "
              f"log_likelihood + posterior_predictive arrays are {size / 2**20:.0f} MB "
              f"(it was 4.1 GB for 200 steps)")
        del idata


if __name__ == "__main__":
    main()
