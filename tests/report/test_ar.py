"""The demo's AR section: files present and their contents consistent.

One quick run (AR(1)..AR(3), 1,000 draws, with the netCDF) is shared by the
tests; the numbers are checked against each other (netCDF vs CSV vs the
section's Markdown vs the saved fit), so a section that is written but wrong
fails.
"""

import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from probmodels import export
from probmodels.report import ReportOptions, ar


def _group(path, name: str) -> xr.Dataset:
    """One group of the section's netCDF, read with xarray.

    Decoded to second resolution: the sunspot years span 309 years, more than
    the 292 a nanosecond timedelta holds, and xarray's default (ns) decoding of
    the ``time`` coordinate fails (see test_netcdf_round_trips_with_load_netcdf).
    """
    coder = xr.coders.CFDatetimeCoder(time_unit="s")
    with xr.open_dataset(path, group=name, engine="h5netcdf", decode_times=coder) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    section = ar.section(root, ReportOptions(seed=3, quick=True, netcdf=True))
    return root, section


def _chosen_order(markdown: str) -> int:
    match = re.search(r"Chosen: AR\((\d+)\)\*\* by `comparison.best`, the one-standard-error rule", markdown)
    assert match, "the section does not state the chosen order and its rule"
    return int(match.group(1))


def test_section_writes_every_listed_file(report):
    root, section = report
    linked = set(re.findall(r"\]\((ar/[^)]+)\)", section.markdown))
    # the default (exact) fit has no loss history, so no loss.png
    expected = {"ar/order_comparison.csv", "ar/summary.csv", "ar/forecast.csv",
                "ar/order_comparison.png", "ar/phi_intervals.png", "ar/forecast.png",
                "ar/residuals.png", "ar/posterior.nc", "ar/fit.npz"}
    if _chosen_order(section.markdown) == 2:  # the stationarity triangle is for AR(2) only
        expected.add("ar/stationarity.png")
    assert linked == expected
    assert {str(f) for f in section.files} == expected
    on_disk = {f"ar/{p.name}" for p in (root / "ar").iterdir()}
    assert on_disk == expected  # and no stray temporary files
    for name in expected:
        path = root / name
        assert path.is_file() and path.stat().st_size > 0, name
    for name in (n for n in expected if n.endswith(".png")):
        assert (root / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_chosen_order_matches_netcdf_and_comparison(report):
    root, section = report
    order = _chosen_order(section.markdown)
    table = pd.read_csv(root / "ar" / "order_comparison.csv", index_col=0)
    assert list(table.index) == sorted(table.index, key=lambda m: table.loc[m, "rank"])
    assert set(table.index) == {"AR(1)", "AR(2)", "AR(3)"}
    assert f"AR({order})" in table.index
    # each order's reliability is in the table and shown beside its LOO
    assert table["max_pareto_k"].notna().all()
    header = next(line for line in section.markdown.splitlines() if line.startswith("| model |"))
    assert "| max_pareto_k |" in header and "| dse |" in header and "| warning |" in header
    # the reason given is the comparison's own, naming the chosen order
    assert re.search(rf"rule on the reliable\nfits: AR\({order}\) (has the highest|is the simplest)",
                     section.markdown)
    posterior = _group(root / "ar" / "posterior.nc", "posterior")
    assert posterior["phi"].sizes["lag"] == order
    np.testing.assert_array_equal(posterior["lag"].values, np.arange(1, order + 1))
    # the final fit conditions on `order` values, so it models the years after them
    time = _group(root / "ar" / "posterior.nc", "log_likelihood")["time"].values
    assert len(time) == 309 - order
    assert str(time[0])[:4] == str(1700 + order) and str(time[-1])[:4] == "2008"


def test_netcdf_round_trips_with_load_netcdf(report):
    root, section = report
    # 1700-2008 is longer than the ~292 years a nanosecond time axis holds
    idata = export.load_netcdf(root / "ar" / "posterior.nc")
    order = _chosen_order(section.markdown)
    assert export.get_group(idata, "posterior")["phi"].sizes["lag"] == order
    time = export.get_group(idata, "log_likelihood")["time"].values
    assert str(time[0])[:4] == str(1700 + order) and str(time[-1])[:4] == "2008"


def test_summary_means_equal_netcdf_posterior_means(report):
    root, _ = report
    summary = pd.read_csv(root / "ar" / "summary.csv", index_col=0)
    posterior = _group(root / "ar" / "posterior.nc", "posterior")
    order = posterior["phi"].sizes["lag"]
    assert list(summary.index) == ["mu"] + [f"phi[{k}]" for k in range(1, order + 1)] + ["sigma"]
    expected = {"mu": float(posterior["mu"].mean()), "sigma": float(posterior["sigma"].mean())}
    expected.update({f"phi[{k}]": float(posterior["phi"].sel(lag=k).mean())
                     for k in range(1, order + 1)})
    # same float64 draws, written to CSV with full precision: equal to rounding
    np.testing.assert_allclose(summary["mean"].to_numpy(),
                               [expected[k] for k in summary.index], rtol=1e-12)


def test_saved_fit_reproduces_netcdf_and_forecast(report):
    import probmodels as pm

    root, _ = report
    fit = pm.load(root / "ar" / "fit.npz")
    posterior = _group(root / "ar" / "posterior.nc", "posterior")
    np.testing.assert_array_equal(fit.draws["phi"][..., 0, :], posterior["phi"].values)
    assert fit.seed == 3

    forecast = pd.read_csv(root / "ar" / "forecast.csv", index_col=0)
    # 20 years that continue the data, which end in 2008
    assert list(forecast.index) == list(range(2009, 2029))
    assert list(forecast.columns) == ["mean", "q0.05", "q0.5", "q0.95"]
    assert (forecast["q0.05"] < forecast["mean"]).all() and (forecast["mean"] < forecast["q0.95"]).all()
    # a forecast from the saved fit with the fit's seed is the same table
    np.testing.assert_allclose(fit.forecast(20).to_numpy(), forecast.to_numpy(), rtol=1e-12)


def test_stationarity_in_section_matches_saved_fit(report):
    import probmodels as pm

    root, section = report
    match = re.search(r"stationary: \*\*([0-9.]+)\*\*", section.markdown)
    assert match
    fit = pm.load(root / "ar" / "fit.npz")
    assert float(match.group(1)) == pytest.approx(fit.stationarity_probability(), abs=5e-4)
