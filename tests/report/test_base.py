"""The helpers every demo section shares: tables, figures, the section folder, the choice note."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.image import imread

from probmodels.report import SectionFolder, markdown_table, save_figure
from probmodels.report._base import DPI


def test_markdown_table_formats_each_cell_by_type():
    frame = pd.DataFrame({"rank": [0, 1], "elpd": [-1.23456, float("nan")],
                          "weight": [1.0, 1e-13], "warning": [False, True]},
                         index=pd.Index(["K=2", "K=1"], name="model"))
    assert markdown_table(frame, digits=2).splitlines() == [
        "| model | rank | elpd | weight | warning |",
        "|---|---|---|---|---|",
        "| K=2 | 0 | -1.23 | 1.00 | no |",
        "| K=1 | 1 |  | 1.0e-13 | yes |",
    ]


def test_section_folder_records_paths_relative_to_the_report(tmp_path):
    folder = SectionFolder(tmp_path, "ar")
    path = folder.path("summary.csv")
    assert path == tmp_path / "ar" / "summary.csv" and (tmp_path / "ar").is_dir()
    folder.path("fit.npz")
    assert [str(f) for f in folder.files] == ["ar/summary.csv", "ar/fit.npz"]
    # a section never writes into a folder that exists
    with pytest.raises(FileExistsError):
        SectionFolder(tmp_path, "ar")


def test_save_figure_writes_a_png_of_the_stated_size_without_pyplot(tmp_path):
    before = plt.get_fignums()
    save_figure(lambda ax: ax.plot([0, 1], [1, 0]), tmp_path / "f.png", figsize=(4.0, 2.0))
    assert plt.get_fignums() == before
    height, width = imread(tmp_path / "f.png").shape[:2]
    assert (width, height) == (4 * DPI, 2 * DPI)


# ------------------------------------------------------------------ verdicts


def _fit(method="nuts", diagnostics=None, draws=True, losses=()):
    """A stand-in with the attributes fit_verdict reads."""
    from types import SimpleNamespace

    import numpy as np

    return SimpleNamespace(method=method, diagnostics=dict(diagnostics or {}),
                           draws={"mu": np.zeros((1, 5))} if draws else {},
                           losses=np.asarray(losses, dtype=float))


_NUTS_OK = {"divergences": 0, "max_rhat": 1.002, "max_rhat_site": "mu", "min_ess": 900.0,
            "min_ess_site": "phi", "max_tree_depth_hits": 0, "min_bfmi": 0.8, "num_chains": 4,
            "num_draws": 500}


def test_verdict_of_a_good_nuts_run_states_each_threshold_and_number():
    from probmodels.report import fit_verdict

    verdict = fit_verdict(_fit("nuts", _NUTS_OK))
    assert verdict.ok and verdict.problems == ()
    assert verdict.markdown() == (
        "> **converged:** all R-hat < 1.01 (largest 1.002); bulk and tail ESS > 400 (100 per "
        "chain; smallest 900); no divergent transitions; E-BFMI >= 0.3 (lowest 0.80).")


@pytest.mark.parametrize("change, problem", [
    ({"max_rhat": 1.05}, "NUTS R-hat check: R-hat up to 1.050 (site 'mu') > 1.01"),
    ({"min_ess": 150.0}, "NUTS ESS check: bulk/tail effective sample size down to 150"),
    ({"divergences": 3}, "NUTS divergences check: 3 divergent transitions of 2000 draws"),
    ({"min_bfmi": 0.1}, "NUTS E-BFMI check: energy BFMI 0.10 < 0.3"),
])
def test_verdict_of_a_bad_nuts_run_says_look_again_with_the_failed_check(change, problem):
    from probmodels.report import fit_verdict

    verdict = fit_verdict(_fit("nuts", {**_NUTS_OK, **change}))
    assert not verdict.ok
    assert len(verdict.problems) == 1 and verdict.problems[0].startswith(problem)
    assert verdict.markdown().startswith("> **look again:** " + problem)
    assert len(verdict.passed) == 3  # the other checks still say they passed


def test_verdict_of_variational_and_exact_draws():
    from probmodels.report import fit_verdict

    good = fit_verdict(_fit("svi", {"khat": 0.31, "converged": True, "num_steps": 150}))
    assert good.ok and good.passed == (
        "PSIS k-hat 0.31 <= 0.7 (excellent: below 0.5 excellent, 0.5-0.7 usable)",
        "SVI converged in 150 steps")
    bad = fit_verdict(_fit("svi", {"khat": 0.9, "converged": False, "num_steps": 2000}))
    assert not bad.ok
    assert bad.problems[0].startswith("PSIS check: k-hat 0.90 > 0.7")
    assert bad.problems[1].startswith("SVI check: the optimiser ran all 2000 steps")
    exact = fit_verdict(_fit("exact", {"seconds": 0.1}))
    assert exact.ok and exact.passed == (
        "exact posterior draws (conjugate, independent): no chain to converge",)
    assert not fit_verdict(_fit("other", {})).ok  # nothing to judge by is not a pass
    # the Gibbs chain over an AR fit's missing values (R-hat 1.042, ESS 62 of 100 draws)
    gibbs = fit_verdict(_fit("exact", {"gibbs_max_rhat": 1.042, "gibbs_min_ess": 62.0}))
    assert not gibbs.ok and gibbs.problems == (
        "Gibbs R-hat check: R-hat up to 1.042 > 1.01 in the chain over the missing values; "
        "draw more (num_samples).",
        "Gibbs ESS check: bulk ESS down to 62 < 400 in the chain over the missing values; "
        "draw more (num_samples).")
    mixed = fit_verdict(_fit("exact", {"gibbs_max_rhat": 1.002, "gibbs_min_ess": 900.0}))
    assert mixed.ok and mixed.passed == ("Gibbs R-hat < 1.01 (largest 1.002)",
                                         "Gibbs ESS >= 400 (smallest 900)")


def test_verdict_of_a_neural_fit_reads_its_loss_history():
    import numpy as np

    from probmodels.report import fit_verdict

    settled = fit_verdict(_fit("svi", draws=False, losses=np.full(40, 10.0)))
    assert settled.ok and settled.passed == (
        "loss settled: the mean loss of the last 10 epochs is 0.0% below that of the 10 before "
        "(at most 1%)",)
    falling = np.linspace(20.0, 10.0, 40)
    before, last = falling[20:30].mean(), falling[30:].mean()
    verdict = fit_verdict(_fit("svi", draws=False, losses=falling))
    assert not verdict.ok
    assert verdict.problems == (
        f"Loss check: the mean loss of the last 10 epochs is {(before - last) / before:.1%} below "
        f"that of the 10 before (more than 1%): still improving, train longer (more steps or "
        f"epochs).",)
    assert "non-finite" in fit_verdict(_fit("svi", draws=False, losses=[1.0] * 9 + [np.nan])).problems[0]
    assert "too few" in fit_verdict(_fit("svi", draws=False, losses=[3.0, 2.0, 1.0])).problems[0]
