"""The demo's DDPM section: the numbers shown are those of metrics.json."""

import json
import re


def test_section_writes_its_files_and_shows_the_saved_metrics(demo):
    # the section of the shared quick demo (tests/report/conftest.py: seed 0, quick)
    tmp_path, section = demo.root, demo.sections["ddpm"]
    expected = {"ddpm/samples.png", "ddpm/trajectory.png", "ddpm/bits_per_timestep.png",
                "ddpm/loss.png", "ddpm/metrics.json", "ddpm/fit.npz"}
    assert {str(f) for f in section.files} == expected
    assert {f"ddpm/{p.name}" for p in (tmp_path / "ddpm").iterdir()} == expected
    assert set(re.findall(r"\]\((ddpm/[^)]+)\)", section.markdown)) == expected
    metrics = json.loads((tmp_path / "ddpm" / "metrics.json").read_text())
    # quick asks for 1,500 steps; training runs whole epochs of 8,000 / 512 batches
    assert 1500 <= metrics["train_steps"] < 1500 + 16
    assert f"({metrics['train_steps']} steps" in section.markdown
    assert f"{metrics['mmd2_ancestral']:.4f}" in section.markdown
    assert f"{metrics['bits_per_dim']:.3f} ± {metrics['bits_per_dim_se']:.3f}" in section.markdown
