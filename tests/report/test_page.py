"""``probmodels report FIT_FILE``: a page for a saved fit of each model, and clear errors.

Tiny fits of the four models (and a many-series AR fit) are saved once per module;
each page's summary table must be that fit's ``summary()``, its verdict that of
:func:`fit_verdict`, its images the files beside it, and one page of each model is
loaded in headless Chromium. Bad input (a missing file, another program's file, a
folder) is a usage error with exit code 2 and no traceback; an existing report is
never written over.
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

import probmodels as pm
from probmodels import cli
from probmodels.report import PAGES, fit_verdict, markdown_to_html
from tests.report._browser import check_page, find_browser
from tests.report.test_browser import assert_page_ok, assert_table_is_summary, summary_tables

MODELS = ("ar", "ar_missing", "many", "gmm", "vae", "ddpm")


def _tiny_fit(name: str):
    """A small fit of each model, a few seconds at most."""
    if name == "ar":
        return pm.BayesianAR(order=2).fit(pm.datasets.load_sunspots(), seed=0, progress=False,
                                          num_samples=300)
    if name == "ar_missing":  # two series, one value missing: a Gibbs chain, figures of "a"
        y = pm.datasets.load_sunspots()
        df = pd.DataFrame({"a": y.to_numpy(), "b": y.to_numpy()[::-1].copy()}, index=y.index)
        df.iloc[5, 0] = np.nan
        return pm.BayesianAR(order=3).fit(df, seed=0, progress=False, num_samples=100)
    if name == "many":
        rng = np.random.default_rng(0)
        rows = [(uid, t, v) for uid in ("a", "b")
                for t, v in enumerate(np.cumsum(rng.normal(size=40)) * 0.3)]
        df = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
        return pm.BayesianAR(order=1).fit_many(df, seed=0, num_samples=200)
    if name == "gmm":
        return pm.GaussianMixture(n_components=2).fit(pm.datasets.load_faithful(), seed=0,
                                                      num_samples=200, num_starts=1)
    if name == "vae":
        images, _ = pm.datasets.load_digits()
        x = (images[:300] >= 8).astype(np.float32)[:, None]
        return pm.VAE(input_shape=(1, 8, 8), latent_dim=2, likelihood="bernoulli").fit(
            x, seed=0, progress=False, steps=40)
    points, _ = pm.datasets.make_moons(400, noise=0.05, seed=0)
    return pm.DDPM(data_shape=(2,), timesteps=40).fit(points, seed=0, steps=40)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """``{name: (fit, saved path, report folder, stdout)}`` for each of :data:`MODELS`."""
    base = tmp_path_factory.mktemp("fits")
    out = {}
    for name in MODELS:
        fit = _tiny_fit(name)
        path = fit.save(base / f"{name}.npz")
        folder = base / f"{name}-report"
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            assert cli.main(["report", str(path), "--out", str(folder)]) == 0
        out[name] = (fit, path, folder, stdout.getvalue())
    return out


@pytest.mark.parametrize("name", MODELS)
def test_report_page_shows_the_fits_summary_verdict_and_figures(name, reports):
    fit, path, folder, printed = reports[name]
    assert printed.splitlines()[-1] == str(folder / "index.html")
    page = (folder / "index.html").read_text(encoding="utf-8")
    (table,) = summary_tables(page)
    assert_table_is_summary(table, pm.load(path).summary())
    verdict = PAGES[type(fit).model_name].verdict(fit)
    assert markdown_to_html(verdict.markdown()) in page
    if name != "many":
        assert PAGES[type(fit).model_name].verdict is fit_verdict
    assert f"probmodels report {path} --out {folder}" in page
    images = re.findall(r'<img src="([^"]+)"', page)
    pngs = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.png"))
    assert sorted(images) == pngs
    expected = {"ar": {"forecast", "residuals", "stationarity", "phi_intervals"},
                "ar_missing": {"forecast", "residuals", "phi_intervals"},
                "many": {"forecast", "residuals", "phi_intervals"},
                "gmm": {"clusters", "responsibilities", "density_eruptions", "density_waiting",
                        "loss"},
                "vae": {"samples", "loss"},
                "ddpm": {"samples", "trajectory", "loss"}}[name]
    assert {p.rpartition("/")[2][:-len(".png")] for p in pngs} == expected
    # each figure has the call that draws it under it
    assert len(re.findall(r"<figcaption>.*?<br><code>(fit\.|plots\.)", page)) == len(images)
    assert (folder / "index.md").is_file()


def test_gibbs_chain_of_missing_values_is_judged_and_figures_name_their_series(reports):
    fit, _, folder, _ = reports["ar_missing"]
    page = (folder / "index.html").read_text(encoding="utf-8")
    rhat, ess = fit.diagnostics["gibbs_max_rhat"], fit.diagnostics["gibbs_min_ess"]
    assert ess < 400  # 100 draws of a chain: the check must speak
    assert f"Gibbs ESS check: bulk ESS down to {ess:.0f} &lt; 400" in page
    assert ("Gibbs R-hat check" if rhat > 1.01 else f"Gibbs R-hat &lt; 1.01 (largest {rhat:.3f})") in page
    assert '<div class="verdict warn"><strong>look again:</strong>' in page
    assert "<code>fit.plot_forecast(20, history=100, series='a')</code>" in page


def test_many_series_verdict_names_the_checks_of_flagged(reports):
    fit, _, folder, _ = reports["many"]
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert fit.flagged().empty
    assert ('<div class="verdict"><strong>converged:</strong> 2 series, every series: PSIS '
            'k-hat &lt;= 0.7') in page


@pytest.mark.parametrize("name", ["ar", "gmm", "vae", "ddpm"])
def test_report_page_loads_in_chromium_without_errors(name, reports):
    browser = find_browser()
    if browser is None:
        pytest.skip("no browser found: headless Chromium is needed for this test "
                    "(apt-get install -y chromium)")
    assert_page_ok(check_page(reports[name][2] / "index.html", browser=browser))


def test_existing_report_folder_is_never_overwritten(reports, tmp_path, capsys):
    _, path, _, _ = reports["ar"]
    out = tmp_path / "r"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    assert cli.main(["report", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert printed.out.splitlines()[-1] == str(tmp_path / "r-2" / "index.html")
    assert "exists and is not empty" in printed.err


def _write_bad_inputs(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1])
    fig.savefig(tmp_path / "figure.png")
    (tmp_path / "notes.txt").write_text("not a fit\n")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("hello.txt", "a zip of another program")
    np.savez(tmp_path / "arrays.npz", a=np.arange(3))
    (tmp_path / "folder").mkdir()


@pytest.mark.parametrize("target, message", [
    ("missing.npz", r"no file at '[^']*missing\.npz' \(nor 'missing\.npz\.npz'\); pass the path "
                    r"that fit\.save\(\) returned"),
    ("figure.png", r"'[^']*figure\.png' is not a fit this probmodels can read: .*is not a "
                   r"probmodels fit file .*expected a \.npz file written by fit\.save\(\)"),
    ("notes.txt", r"'[^']*notes\.txt' is not a fit this probmodels can read: .*not a probmodels "
                  r"fit file"),
    ("other.zip", r"'[^']*other\.zip' is not a fit this probmodels can read: .*expected a \.npz "
                  r"file written by fit\.save\(\)"),
    ("arrays.npz", r"'[^']*arrays\.npz' is not a fit this probmodels can read: .*expected a "
                   r"\.npz file written by fit\.save\(\)"),
    ("folder", r"'[^']*folder' is a folder; pass the \.npz file that fit\.save\(\) wrote"),
])
def test_bad_fit_file_is_a_usage_error(target, message, tmp_path, monkeypatch, capsys):
    _write_bad_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", str(tmp_path / target), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: probmodels report")
    assert re.search(r"probmodels report: error: argument FIT_FILE: " + message, err), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no report folder


def test_out_that_is_a_file_is_a_usage_error(reports, tmp_path, capsys):
    _, path, _, _ = reports["ar"]
    (tmp_path / "f.txt").write_text("not a folder")
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", str(path), "--out", str(tmp_path / "f.txt")])
    assert exc.value.code == 2
    assert "argument --out: " in capsys.readouterr().err
    assert (tmp_path / "f.txt").read_text() == "not a folder"
