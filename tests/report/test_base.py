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
