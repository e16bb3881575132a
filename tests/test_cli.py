"""The ``probmodels demo`` report: files present and their contents consistent.

One quick demo run (AR(1)..AR(3), 1,000 draws) is shared by the content tests;
the numbers are checked against each other (netCDF vs CSV vs index.md vs the
saved fit), so a report that is written but wrong fails.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from probmodels import cli, export


def _group(path, name: str) -> xr.Dataset:
    """One group of the report's netCDF, read with xarray.

    Decoded to second resolution: the sunspot years span 309 years, more than
    the 292 a nanosecond timedelta holds, and xarray's default (ns) decoding of
    the ``time`` coordinate fails (see test_netcdf_round_trips_with_load_netcdf).
    """
    coder = xr.coders.CFDatetimeCoder(time_unit="s")
    with xr.open_dataset(path, group=name, engine="h5netcdf", decode_times=coder) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "r"
    assert cli.main(["demo", "--out", str(root), "--quick", "--seed", "3"]) == 0
    return root


def _selected_order(index_md: str) -> int:
    match = re.search(r"Selected order: AR\((\d+)\)", index_md)
    assert match, "index.md does not state the selected order"
    return int(match.group(1))


def test_demo_writes_every_listed_file(report):
    index = (report / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((ar/[^)]+)\)", index))
    expected = {"ar/order_comparison.csv", "ar/summary.csv", "ar/forecast.csv",
                "ar/phi_intervals.png", "ar/forecast.png", "ar/loss.png",
                "ar/posterior.nc", "ar/fit.npz"}
    assert linked == expected
    on_disk = {f"ar/{p.name}" for p in (report / "ar").iterdir()}
    assert on_disk == expected  # and no stray temporary files
    for name in expected:
        path = report / name
        assert path.is_file() and path.stat().st_size > 0, name
    for name in (n for n in expected if n.endswith(".png")):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_order_in_index_matches_netcdf_and_comparison(report):
    order = _selected_order((report / "index.md").read_text(encoding="utf-8"))
    table = pd.read_csv(report / "ar" / "order_comparison.csv", index_col=0)
    assert list(table.index) == sorted(table.index, key=lambda m: table.loc[m, "rank"])
    assert table.index[0] == f"AR({order})"
    assert set(table.index) == {"AR(1)", "AR(2)", "AR(3)"}
    posterior = _group(report / "ar" / "posterior.nc", "posterior")
    assert posterior["phi"].sizes["lag"] == order
    np.testing.assert_array_equal(posterior["lag"].values, np.arange(1, order + 1))
    # the final fit conditions on `order` values, so it models the years after them
    time = _group(report / "ar" / "posterior.nc", "log_likelihood")["time"].values
    assert len(time) == 309 - order
    assert str(time[0])[:4] == str(1700 + order) and str(time[-1])[:4] == "2008"


def test_netcdf_round_trips_with_load_netcdf(report):
    # 1700-2008 is longer than the ~292 years a nanosecond time axis holds
    idata = export.load_netcdf(report / "ar" / "posterior.nc")
    order = _selected_order((report / "index.md").read_text(encoding="utf-8"))
    assert export.get_group(idata, "posterior")["phi"].sizes["lag"] == order
    time = export.get_group(idata, "log_likelihood")["time"].values
    assert str(time[0])[:4] == str(1700 + order) and str(time[-1])[:4] == "2008"


def test_summary_means_equal_netcdf_posterior_means(report):
    summary = pd.read_csv(report / "ar" / "summary.csv", index_col=0)
    posterior = _group(report / "ar" / "posterior.nc", "posterior")
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

    fit = pm.load(report / "ar" / "fit.npz")
    posterior = _group(report / "ar" / "posterior.nc", "posterior")
    np.testing.assert_array_equal(fit.draws["phi"][..., 0, :], posterior["phi"].values)
    assert fit.seed == 3

    forecast = pd.read_csv(report / "ar" / "forecast.csv", index_col=0)
    # 20 years that continue the data, which end in 2008
    assert list(forecast.index) == list(range(2009, 2029))
    assert list(forecast.columns) == ["mean", "q0.05", "q0.5", "q0.95"]
    assert (forecast["q0.05"] < forecast["mean"]).all() and (forecast["mean"] < forecast["q0.95"]).all()
    # a forecast from the saved fit with the fit's seed is the same table
    np.testing.assert_allclose(fit.forecast(20).to_numpy(), forecast.to_numpy(), rtol=1e-12)


def test_stationarity_in_index_matches_saved_fit(report):
    import probmodels as pm

    index = (report / "index.md").read_text(encoding="utf-8")
    match = re.search(r"stationary: \*\*([0-9.]+)\*\*", index)
    assert match
    fit = pm.load(report / "ar" / "fit.npz")
    assert float(match.group(1)) == pytest.approx(fit.stationarity_probability(), abs=5e-4)


def _fake_reports(monkeypatch) -> list:
    """Replace the demo's sections by one that writes a file; returns the folders it got."""
    calls = []

    def fake_report(out_dir, seed, quick):
        calls.append(out_dir)
        (out_dir / "fake.txt").write_text(f"seed {seed}")
        return cli.ReportSection("Fake", "[fake](fake.txt)", ("fake.txt",))

    monkeypatch.setattr(cli, "REPORTS", [fake_report])
    return calls


def test_existing_report_is_never_overwritten(tmp_path, monkeypatch, capsys):
    calls = _fake_reports(monkeypatch)
    out = tmp_path / "r"
    out.mkdir()
    (out / "mine.txt").write_text("user data")

    cli.main(["demo", "--out", str(out), "--seed", "1"])
    cli.main(["demo", "--out", str(out), "--seed", "2"])
    printed = capsys.readouterr()

    assert calls == [tmp_path / "r-2", tmp_path / "r-3"]
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert (out / "mine.txt").read_text() == "user data"
    assert (tmp_path / "r-2" / "fake.txt").read_text() == "seed 1"
    assert (tmp_path / "r-3" / "fake.txt").read_text() == "seed 2"
    assert str(tmp_path / "r-3" / "index.md") in printed.out
    assert "exists and is not empty" in printed.err


def test_empty_existing_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert cli.new_report_dir(out) == out


def test_out_that_is_a_file_is_rejected(tmp_path):
    target = tmp_path / "report"
    target.write_text("not a folder")
    with pytest.raises(FileExistsError, match="is an existing file, not a folder"):
        cli.new_report_dir(target)
    assert target.read_text() == "not a folder"


@pytest.mark.parametrize("out, cwd, expected", [
    (".", "work", "work/report"),
    ("", "work", "work/report"),
    ("..", "work", "report"),
    ("work/..", ".", "report"),
])
def test_out_naming_a_folder_by_position_gets_a_report_folder_inside(
        out, cwd, expected, tmp_path, monkeypatch, capsys):
    calls = _fake_reports(monkeypatch)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "mine.txt").write_text("user data")
    monkeypatch.chdir(tmp_path / cwd)

    assert cli.main(["demo", "--out", out]) == 0
    assert cli.main(["demo", "--out", out]) == 0  # the second run must not reuse the first folder
    printed = capsys.readouterr()

    first, second = tmp_path / expected, tmp_path / (expected + "-2")
    assert [c.resolve() for c in calls] == [first, second]
    for folder in (first, second):
        assert sorted(p.name for p in folder.iterdir()) == ["fake.txt", "index.md"]
    # the path printed last is where the second report is, relative to the working folder
    assert (tmp_path / cwd / printed.out.splitlines()[-1]).resolve() == second / "index.md"
    assert "exists and is not empty" in printed.err
    assert (tmp_path / "work" / "mine.txt").read_text() == "user data"


@pytest.mark.parametrize("out, message", [
    ("f.txt", r"'f\.txt' is an existing file, not a folder; pass a folder path"),
    ("f.txt/sub", r"'f\.txt/sub' cannot be a folder: 'f\.txt' is a file; pass a folder path"),
    ("f.txt/a/b", r"'f\.txt/a/b' cannot be a folder: 'f\.txt' is a file"),
])
def test_out_that_is_or_lies_under_a_file_exits_with_usage(
        out, message, tmp_path, monkeypatch, capsys):
    calls = _fake_reports(monkeypatch)
    (tmp_path / "f.txt").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "--out", out])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: probmodels demo")
    assert re.search(r"probmodels demo: error: argument --out: " + message, err), err
    assert calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    assert (tmp_path / "f.txt").read_text() == "not a folder"


def test_report_dir_under_a_file_is_rejected(tmp_path):
    (tmp_path / "f.txt").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file; pass a folder path"):
        cli.new_report_dir(tmp_path / "f.txt" / "sub")


@pytest.mark.parametrize("argv, message", [
    (["demo", "--seed", "-1"], "integer in"),
    (["demo", "--threads", "0"], "integer >= 1"),
    ([], "required"),
])
def test_bad_arguments_exit_with_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command_line():
    root = Path(cli.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "probmodels", "demo", "--help"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: probmodels demo" in done.stdout and "--quick" in done.stdout
