"""The demo's Gaussian mixture section: the stated K is the one fitted, saved and tabled.

The section is the one of the shared quick demo (tests/report/conftest.py: seed 0, quick).
"""

import re

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def report(demo):
    return demo.root, demo.sections["gmm"]


def test_section_writes_every_listed_file_and_no_netcdf_unless_asked(report):
    root, section = report
    expected = {"gmm/component_comparison.csv", "gmm/summary.csv", "gmm/fit.npz",
                "gmm/component_comparison.png", "gmm/clusters.png", "gmm/responsibilities.png",
                "gmm/density_eruptions.png", "gmm/density_waiting.png", "gmm/loss.png"}
    assert {str(f) for f in section.files} == expected
    assert {f"gmm/{p.name}" for p in (root / "gmm").iterdir()} == expected
    assert set(re.findall(r"\]\((gmm/[^)]+)\)", section.markdown)) == expected
    assert "--netcdf" in section.markdown


def test_chosen_k_is_comparison_best_and_is_the_saved_fit(report):
    import probmodels as pm

    root, section = report
    match = re.search(r"\*\*Chosen: K = (\d+)\*\* by `comparison.best`, the one-standard-error rule "
                      r"on the reliable\nfits: K=(\d+) (has the highest|is the simplest)", section.markdown)
    assert match, "the section does not state the chosen K and its rule"
    K = int(match.group(1))
    assert int(match.group(2)) == K
    table = pd.read_csv(root / "gmm" / "component_comparison.csv", index_col=0)
    assert set(table.index) == {"K=1", "K=2", "K=3"}
    assert f"K={K}" in table.index
    assert {"khat", "max_pareto_k", "dse", "warning", "bic"} <= set(table.columns)
    # the chosen K's LOO is reliable (the rule leaves out the others unless none is)
    assert not table.loc[f"K={K}", "warning"] or table["warning"].all()
    fit = pm.load(root / "gmm" / "fit.npz")
    assert fit.gmm.n_components == K
    summary = pd.read_csv(root / "gmm" / "summary.csv", index_col=0)
    assert len([p for p in summary.index if p.startswith("pi")]) == K
    # the table shown carries each fit's k-hat and the LOO warning flag
    header = next(line for line in section.markdown.splitlines() if line.startswith("| model |"))
    assert "| khat |" in header and "| warning |" in header
