"""The demo's index.html: small, offline, and clean in a real browser (headless Chromium).

The page is that of the shared ``probmodels demo --quick`` run (tests/report/conftest.py).
Chromium is driven over the DevTools protocol (tests/report/_browser.py): a request
outside the report folder, a failed request, a console error or a broken image fails
the test, and so does a blank screenshot. The checker itself is tested on pages that
have each fault, so that these tests can fail. Without a browser on PATH the browser
tests skip with the reason (``.ci/run`` installs Debian's chromium where it can).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import probmodels as pm
from probmodels.report import fit_verdict, markdown_to_html
from tests.report._browser import check_page, find_browser, inked_fraction

#: the most a report page may weigh (issue 15), and the whole quick demo folder
MAX_BYTES = 5 * 2**20
#: a screenshot with fewer pixels than this off the background colour is blank
#: (0.1%, about 2,600 of 1280 x 2000: the top of the demo page inks about 10%, a
#: 4 x 3 inch line plot 0.3%, an empty page 0)
MIN_INKED = 0.001

SECTIONS = ("ar", "gmm", "vae", "ddpm")


@pytest.fixture(scope="module")
def browser():
    path = find_browser()
    if path is None:
        pytest.skip("no browser found: headless Chromium is needed for this test "
                    "(apt-get install -y chromium)")
    return path


def assert_page_ok(check) -> None:
    """Fail with every finding of ``check`` (a PageCheck), or if its screenshot is blank."""
    assert check.problems() == [], "\n".join(check.problems())
    inked = inked_fraction(check.screenshot)
    assert inked > MIN_INKED, f"blank screenshot: {inked:.4f} of the pixels off the background"


def summary_tables(page: str) -> list[list[list[str]]]:
    """The cells of every table that follows a ``Summary, fit.summary():`` line, in page order."""
    tables = re.findall(r"Summary, <code>fit\.summary\(\)</code>[^<]*:</p>\s*<table>(.*?)</table>",
                        page, flags=re.S)
    return [[re.findall(r"<t[hd]>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", t)]
            for t in tables]


def assert_table_is_summary(cells: list[list[str]], summary) -> None:
    """The HTML table shows ``summary`` (a DataFrame): same labels, numbers to 3 decimals,
    other columns as text (booleans as yes/no); a (series, parameter) index as ``a, mu``."""
    header, rows = cells[0], cells[1:]
    index = summary.index
    labels = ([", ".join(map(str, k)) for k in index] if index.nlevels > 1
              else [str(k) for k in index])
    name = ", ".join(map(str, index.names)) if index.nlevels > 1 else (index.name or "")
    assert header == [name] + list(summary.columns)
    # the same rows; in the fit's order, which a saved and loaded fit may not keep (save()
    # writes the draws by sorted name: a GMM's pi rows come after mu once loaded)
    shown_labels = [r[0] for r in rows]
    assert sorted(shown_labels) == sorted(labels)
    summary = summary.iloc[[labels.index(k) for k in shown_labels]]
    for j, column in enumerate(summary.columns, 1):
        values = summary[column]
        if values.dtype.kind in "iuf":
            shown = np.array([float(r[j]) if r[j] else np.nan for r in rows])
            expected = values.to_numpy(dtype=float)
            assert np.array_equal(np.isnan(shown), np.isnan(expected)), column
            # 3 decimals: within half a unit of the third; numbers below 1e-3 are printed
            # with two significant digits (1.2e-05), so within 5% of themselves
            tol = np.where(np.abs(expected) < 1e-3, 0.05 * np.abs(expected), 5e-4) + 1e-12
            ok = np.isnan(expected) | (np.abs(shown - expected) <= tol)
            assert ok.all(), f"{column}: shown {shown[~ok]}, summary {expected[~ok]}"
        else:
            text = [("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else str(v)
                    for v in values]
            assert [r[j] for r in rows] == text, column


# ---------------------------------------------------------------- the checker


@pytest.mark.parametrize("body, finding", [
    ('<img src="missing.png" alt="x">', "broken image: file://"),
    ('<script src="https://cdn.example.com/lib.js"></script>',
     "request outside the folder: https://cdn.example.com/lib.js"),
    ("<script>console.error('boom')</script>", "console error: boom"),
    ("<script>undefined_function()</script>", "console error: ReferenceError"),
])
def test_checker_finds_each_fault(body, finding, tmp_path, browser):
    page = tmp_path / "index.html"
    page.write_text(f"<!DOCTYPE html><html><body><h1>Report</h1><p>text</p>{body}</body></html>")
    check = check_page(page, browser=browser)
    assert any(p.startswith(finding) for p in check.problems()), check.problems()
    with pytest.raises(AssertionError):
        assert_page_ok(check)


def test_checker_finds_a_blank_page_and_passes_a_good_one(tmp_path, browser):
    from matplotlib.figure import Figure

    (tmp_path / "blank.html").write_text("<!DOCTYPE html><html><body></body></html>")
    blank = check_page(tmp_path / "blank.html", browser=browser)
    assert blank.problems() == [] and inked_fraction(blank.screenshot) == 0.0
    with pytest.raises(AssertionError, match="blank screenshot"):
        assert_page_ok(blank)

    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1], [1, 0])
    fig.savefig(tmp_path / "figure.png")
    (tmp_path / "good.html").write_text(
        '<!DOCTYPE html><html><body><h1>Report</h1><img src="figure.png" alt="f"></body></html>')
    good = check_page(tmp_path / "good.html", browser=browser)
    assert good.images == 1
    assert_page_ok(good)


# ---------------------------------------------------------------- the demo's page


def test_demo_page_is_small_and_writes_no_netcdf_unless_asked(demo):
    page = demo.root / "index.html"
    assert demo.printed.splitlines()[-1] == str(page)
    assert page.stat().st_size <= MAX_BYTES
    files = [p for p in demo.root.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES
    assert not [p for p in files if p.suffix == ".nc"]
    assert (demo.root / "index.md").is_file()


def test_demo_page_links_nothing_outside_its_folder(demo):
    page = (demo.root / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    targets = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert targets, "the page has no links or images"
    for target in targets:
        assert "://" not in target and not target.startswith("/"), target
        if not target.startswith("#"):
            assert (demo.root / target).is_file(), f"{target} is linked but not in the folder"
    # every figure the sections wrote is shown
    images = set(re.findall(r'<img src="([^"]+)"', page))
    pngs = {str(p.relative_to(demo.root)) for p in demo.root.rglob("*.png")}
    assert images == pngs


def test_demo_page_loads_in_chromium_without_errors(demo, browser):
    check = check_page(demo.root / "index.html", browser=browser)
    assert_page_ok(check)
    page = (demo.root / "index.html").read_text(encoding="utf-8")
    # AR 4 or 5 (the AR(2) triangle), GMM 6, VAE 5, DDPM 4
    assert check.images == page.count("<img ") >= 19


def test_each_section_shows_its_fits_summary_and_verdict(demo):
    page = (demo.root / "index.html").read_text(encoding="utf-8")
    tables = summary_tables(page)
    assert len(tables) == len(SECTIONS)
    for name, cells in zip(SECTIONS, tables):
        fit = pm.load(demo.root / name / "fit.npz")
        assert_table_is_summary(cells, fit.summary())
        verdict = fit_verdict(fit)
        assert markdown_to_html(verdict.markdown()) in page, name
    # the sections' own numbers (the fits' diagnostics) are stated with their thresholds
    assert page.count('<div class="verdict') == len(SECTIONS)
    assert re.search(r"<strong>(converged|look again):</strong>", page)
