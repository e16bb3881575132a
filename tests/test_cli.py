"""The ``probmodels`` command line: the report folder, the arguments, the progress lines.

The sections themselves are tested in tests/report/; here they are replaced by
fakes that write one file, so that these tests take no fitting time.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from probmodels import cli, report


def _fake_reports(monkeypatch) -> list:
    """Replace the demo's sections by one that writes a file; returns the folders it got."""
    calls = []

    def fake_report(out_dir, options):
        calls.append(out_dir)
        (out_dir / "fake.txt").write_text(f"seed {options.seed}")
        return report.ReportSection("Fake", "[fake](fake.txt)", (Path("fake.txt"),))

    monkeypatch.setattr(report, "REPORTS", [fake_report])
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
    assert str(tmp_path / "r-3" / "index.html") in printed.out
    assert "exists and is not empty" in printed.err


def test_each_section_prints_a_line_as_it_starts_and_as_it_ends(tmp_path, monkeypatch, capsys):
    seen = []

    def first(out_dir, options):
        seen.append(options)
        return report.ReportSection("First", "one", ())

    def second(out_dir, options):
        # the start line of a section is out before the section runs
        seen.append(capsys.readouterr().err)
        return report.ReportSection("Second", "two", ())

    monkeypatch.setattr(report, "REPORTS", [first, second])
    assert cli.main(["demo", "--out", str(tmp_path / "r"), "--seed", "5", "--quick", "--netcdf"]) == 0
    err = seen[1] + capsys.readouterr().err
    assert seen[0] == report.ReportOptions(seed=5, quick=True, netcdf=True)
    lines = err.splitlines()
    assert lines[0] == "[1/2] first: started"
    assert re.fullmatch(r"\[1/2\] first: done in \d+\.\d s \(0 files\)", lines[1])
    assert lines[2] == "[2/2] second: started"
    assert seen[1].splitlines()[-1] == "[2/2] second: started"
    assert re.fullmatch(r"\[2/2\] second: done in \d+\.\d s \(0 files\)", lines[3])
    index = (tmp_path / "r" / "index.md").read_text(encoding="utf-8")
    assert "`probmodels demo --seed 5 --quick --netcdf`" in index
    assert "## First\n\none" in index and "## Second\n\ntwo" in index
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "<code>probmodels demo --seed 5 --quick --netcdf</code>" in page
    assert re.search(r"<h2>First</h2>\s*<p>one</p>", page) and re.search(r"<h2>Second</h2>\s*<p>two</p>", page)


def test_netcdf_is_off_by_default(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(report, "REPORTS",
                        [lambda out_dir, options: seen.append(options) or report.ReportSection("A", "", ())])
    cli.main(["demo", "--out", str(tmp_path / "r")])
    assert seen == [report.ReportOptions(seed=0, quick=False, netcdf=False)]


def test_the_registry_runs_the_four_model_sections_in_order():
    assert [(f.__module__, f.__name__) for f in report.REPORTS] == [
        (f"probmodels.report.{name}", "section") for name in ("ar", "gmm", "vae", "ddpm")]
    assert [cli._section_name(f) for f in report.REPORTS] == ["ar", "gmm", "vae", "ddpm"]


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
        assert sorted(p.name for p in folder.iterdir()) == ["fake.txt", "index.html", "index.md"]
    # the path printed last is where the second report is, relative to the working folder
    assert (tmp_path / cwd / printed.out.splitlines()[-1]).resolve() == second / "index.html"
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
    assert "--netcdf" in done.stdout


def test_report_command_has_its_own_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: probmodels report [-h] [--out DIR] FIT_FILE")
    assert "a .npz file written by fit.save() (any model)" in out
    with pytest.raises(SystemExit) as exc:
        cli.main(["report"])
    assert exc.value.code == 2
    assert "the following arguments are required: FIT_FILE" in capsys.readouterr().err
