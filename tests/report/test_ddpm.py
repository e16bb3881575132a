"""The demo's DDPM section: the numbers shown are those of metrics.json."""

import json
import re


def test_section_writes_its_files_and_shows_the_saved_metrics(demo):
    # the section of the shared quick demo (tests/report/conftest.py: seed 0, quick)
    tmp_path, section = demo.root, demo.sections["ddpm"]
    figures = ("samples.png", "trajectory.png", "bits_per_timestep.png", "loss.png")
    expected = {f"ddpm/{prefix}{name}" for prefix in ("", "digits_") for name in figures}
    expected |= {"ddpm/metrics.json", "ddpm/fit.npz", "ddpm/digits_fit.npz"}
    assert {str(f) for f in section.files} == expected
    assert {f"ddpm/{p.name}" for p in (tmp_path / "ddpm").iterdir()} == expected
    assert set(re.findall(r"\]\((ddpm/[^)]+)\)", section.markdown)) == expected
    metrics = json.loads((tmp_path / "ddpm" / "metrics.json").read_text())
    # quick asks for 1,500 steps; training runs whole epochs of 8,000 / 512 batches
    assert 1500 <= metrics["train_steps"] < 1500 + 16
    assert f"({metrics['train_steps']} steps" in section.markdown
    assert f"{metrics['mmd2_ancestral']:.4f}" in section.markdown
    assert f"{metrics['bits_per_dim']:.3f} ± {metrics['bits_per_dim_se']:.3f}" in section.markdown


def test_section_shows_the_digits_sample_grid_trajectory_and_test_bits_per_dim(demo):
    import math

    import numpy as np
    from matplotlib.image import imread

    import probmodels as pm

    section, folder = demo.sections["ddpm"], demo.root / "ddpm"
    digits = json.loads((folder / "metrics.json").read_text())["digits"]
    # quick: 400 steps in whole epochs of 1,437 / 128 batches, the bound on 64 test images
    assert 400 <= digits["train_steps"] < 400 + 12
    assert digits["test_images"] == 64
    assert digits["uniform_bits_per_dim"] == math.log2(17)
    assert f"{digits['bits_per_dim']:.3f} ± {digits['bits_per_dim_se']:.3f}" in section.markdown
    assert np.isfinite(digits["bits_per_dim"]) and digits["bits_per_dim_se"] > 0
    fit = pm.load(folder / "digits_fit.npz")
    assert fit.ddpm.data_shape == (1, 8, 8) and fit.ddpm.decoder == "discretized"
    assert "fit.plot_samples(64, steps=100, seed=0)" in section.markdown
    assert "fit.plot_trajectory(8, steps=100, seed=0)" in section.markdown
    # a grid of 8 x 8 images and 8 rows of frames: the pictures are not blank
    for name in ("digits_samples.png", "digits_trajectory.png"):
        pixels = imread(folder / name)[..., :3]
        assert pixels.std() > 0.05, name
