"""One quick demo for all the report tests: ``probmodels demo --quick --out DIR``, run once.

The run takes about a minute (most of it the GMM's component comparison and the
DDPM's training), so it is shared by every test that reads a demo section or the
pages: tests/report/test_browser.py (index.html in Chromium, its size, its tables)
and the GMM, VAE and DDPM section tests. The AR section test makes its own run with
other options (``seed=3``, ``netcdf=True``).
"""

from __future__ import annotations

import contextlib
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from probmodels import cli, report


@dataclass
class DemoRun:
    """What the shared ``probmodels demo --quick`` wrote.

    Attributes
    ----------
    root : pathlib.Path
        The report folder.
    sections : dict of str to ReportSection
        Each section's result, by its module's name (``ar``, ``gmm``, ``vae``, ``ddpm``).
    printed : str
        What the command printed to stdout (the path of index.html).
    """

    root: Path
    sections: dict
    printed: str


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> DemoRun:
    """Run ``probmodels demo --quick`` once, recording each section's ReportSection."""
    root = tmp_path_factory.mktemp("demo") / "report"
    sections: dict = {}

    def recording(section):
        @functools.wraps(section)  # keeps __module__ and __name__: the progress lines name it
        def run(out_dir, options):
            result = section(out_dir, options)
            sections[cli._section_name(section)] = result
            return result
        return run

    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setattr(report, "REPORTS", [recording(f) for f in report.REPORTS])
        assert cli.main(["demo", "--quick", "--out", str(root)]) == 0
    return DemoRun(root=root, sections=sections, printed=stdout.getvalue())
