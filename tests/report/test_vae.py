"""The demo's VAE section and its data."""

import re

import numpy as np
import pandas as pd

from probmodels.report import vae


def test_binarized_digits_are_the_shipped_digits_thresholded_at_8():
    from probmodels.datasets import load_digits

    x, labels = vae.binarized_digits()
    images, expected_labels = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], images >= 8)
    np.testing.assert_array_equal(labels, expected_labels)


def test_section_writes_its_files(demo):
    # the section of the shared quick demo (tests/report/conftest.py: seed 0, quick)
    tmp_path, section = demo.root, demo.sections["vae"]
    expected = {"vae/metrics.csv", "vae/fit.npz", "vae/reconstructions.png", "vae/samples.png",
                "vae/latent.png", "vae/interpolation.png", "vae/loss.png"}
    assert {str(f) for f in section.files} == expected
    assert {f"vae/{p.name}" for p in (tmp_path / "vae").iterdir()} == expected
    assert set(re.findall(r"\]\((vae/[^)]+)\)", section.markdown)) == expected
    # the table shown is the CSV's, to its two decimals
    metrics = pd.read_csv(tmp_path / "vae" / "metrics.csv", index_col=0)
    for value in metrics.iloc[:, 0]:
        assert f"{value:.2f}" in section.markdown
