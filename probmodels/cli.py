"""The ``probmodels`` command line.

``probmodels demo [--out DIR] [--seed N] [--quick] [--threads N] [--netcdf]``
fits every model of the package on its shipped data set and writes a report
folder: one section per model (tables as CSV, figures as PNG, each final fit
as ``fit.npz``; the ArviZ data as netCDF only with ``--netcdf``) tied
together by ``index.html`` (one page that opens offline: inline CSS, no script,
the figures beside it) and ``index.md`` (the same text as Markdown). It prints
one line to stderr as each section starts and one, with its seconds, as it
ends, and the path of ``index.html`` last.

``probmodels report FIT_FILE [--out DIR]`` writes the same kind of folder for one
fit saved with ``fit.save(path)`` (any model; :func:`probmodels.load` reads it):
the data, the fit's ``summary()`` table, the verdict on its diagnostics, its
figures and the commands that draw them. A path that does not exist, a folder,
or a file that is not a saved fit is a usage error (exit code 2).

The sections are the registry :data:`probmodels.report.REPORTS`, read when
the demo runs; this module only parses the arguments, chooses the report
folder and runs the registry.

Neither command deletes or overwrites anything: when ``--out`` names a folder
that exists and is not empty, the report goes to the first free ``DIR-2``,
``DIR-3``, ... instead, and the path printed at the end says where. ``--out .``
(or ``..``) puts the report in a new ``report`` folder inside that folder. An
``--out`` that is a file, or lies under one, is a usage error (exit code 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "new_report_dir"]

#: how many ``DIR-k`` siblings :func:`new_report_dir` tries before giving up
_MAX_SIBLINGS = 1000


# ---------------------------------------------------------------- helpers


def _report_path(path: Path) -> Path:
    """``path``, or ``path / "report"`` when ``path`` is ``.``, ``..`` or ``""``.

    Those name an existing folder by position, not by a name that could take a
    ``-2`` suffix, so the report goes into a new ``report`` folder inside it.
    """
    return path / "report" if path.name in ("", "..") else path


def _check_report_path(path: Path) -> None:
    """Raise if ``path`` cannot become a folder: it, or a parent of it, is a file."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(
            f"{str(path)!r} is an existing file, not a folder; pass a folder path, "
            f"e.g. {str(path.with_suffix('')) + '-report'!r}."
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"{str(path)!r} cannot be a folder: {str(parent)!r} is a file; pass a "
                    f"folder path whose parents are folders, e.g. "
                    f"{str(parent.with_suffix('')) + '-report'!r}."
                )
            return


def new_report_dir(path: str | Path) -> Path:
    """Create and return a fresh report folder at ``path`` or next to it.

    ``path`` itself is used when it does not exist or is an empty folder;
    otherwise the first of ``path-2``, ``path-3``, ... that does not exist (or
    is an empty folder). ``.``, ``..`` and ``""`` stand for ``./report``,
    ``../report`` and ``./report``. Nothing that exists is ever deleted or
    written over.

    Parameters
    ----------
    path : str or os.PathLike
        The folder asked for (``--out``).

    Returns
    -------
    pathlib.Path
        The folder created (or the empty folder found), ready to write into.

    Raises
    ------
    FileExistsError
        If ``path`` is an existing file, or no free sibling name is found.
    NotADirectoryError
        If a parent of ``path`` is a file.
    """
    path = _report_path(Path(path))
    _check_report_path(path)
    candidates = [path] + [path.with_name(f"{path.name}-{k}") for k in range(2, _MAX_SIBLINGS + 2)]
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            if candidate.is_dir() and not any(candidate.iterdir()):
                return candidate
    raise FileExistsError(
        f"{str(path)!r} and {_MAX_SIBLINGS} numbered siblings ({path.name}-2 ...) all exist "
        f"and are not empty; pass another --out folder."
    )


# ------------------------------------------------------------------ demo


def _section_name(report) -> str:
    """``ar`` for :func:`probmodels.report.ar.section`, else the function's own name."""
    module = getattr(report, "__module__", "") or ""
    if module.startswith("probmodels.report.") and report.__name__ == "section":
        return module.rpartition(".")[2]
    return getattr(report, "__name__", repr(report))


def _fresh_root(out: Path) -> Path:
    """:func:`new_report_dir` of ``out``, saying on stderr when it is not ``out`` itself."""
    root = new_report_dir(out)
    if root != out:
        print(
            f"{out} exists and is not empty; writing the report to {root} instead.", file=sys.stderr
        )
    return root


def _demo(out: Path, options, threads: int, reports: Sequence | None = None) -> Path:
    """Write the report of ``reports`` (default: :data:`probmodels.report.REPORTS`, read now).

    ``options`` is a :class:`probmodels.report.ReportOptions`. One line goes to
    stderr as each section starts and one, with its seconds, as it ends.
    """
    import torch

    from probmodels import report

    out = _report_path(Path(out))
    root = _fresh_root(out)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    reports = report.REPORTS if reports is None else reports
    sections, seconds = [], []
    start = time.perf_counter()
    try:
        for i, section in enumerate(reports, 1):
            name = _section_name(section)
            print(f"[{i}/{len(reports)}] {name}: started", file=sys.stderr, flush=True)
            t = time.perf_counter()
            sections.append(section(root, options))
            seconds.append(time.perf_counter() - t)
            print(
                f"[{i}/{len(reports)}] {name}: done in {seconds[-1]:.1f} s "
                f"({len(sections[-1].files)} files)",
                file=sys.stderr,
                flush=True,
            )
    finally:
        torch.set_num_threads(previous_threads)
    total = time.perf_counter() - start

    flags = (" --quick" if options.quick else "") + (" --netcdf" if options.netcdf else "")
    contents = "\n".join(
        f"- {s.title} ({t:.0f} s, {len(s.files)} files)" for s, t in zip(sections, seconds)
    )
    intro = (
        f"`probmodels demo --seed {options.seed}{flags}`, {total:.0f} s in all.\n\n{contents}\n\n"
    )
    report.write_index(root, "probmodels demo report", intro, sections)
    print(f"demo: {len(sections)} sections in {total:.1f} s", file=sys.stderr, flush=True)
    return root


def _report(fit, path: str, out: Path) -> Path:
    """Write the report folder of one loaded ``fit`` (read from ``path``); returns the folder."""
    from probmodels import report

    out = _report_path(Path(out))
    root = _fresh_root(out)
    command = f"probmodels report {path} --out {out}"
    section = report.fit_section(fit, root, source=path, command=command)
    report.write_index(root, f"probmodels report: {Path(path).name}", f"`{command}`\n\n", [section])
    return root


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _out_dir(text: str) -> Path:
    """``--out``: a path that is or can become a folder (checked before any fitting)."""
    path = _report_path(Path(text))
    try:
        _check_report_path(path)
    except (FileExistsError, NotADirectoryError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def _seed(text: str) -> int:
    from probmodels._validation import MAX_SEED

    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32 - 1], got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probmodels", description="Probabilistic models on Pyro and PyTorch."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="fit every model on its shipped data and write a report folder",
        description="Fit every model on its shipped data set and write a report folder "
        "(index.html, index.md, CSV tables, PNG figures, the fits; netCDF posteriors with "
        "--netcdf). One line per section is printed as it starts and ends.",
    )
    demo.add_argument(
        "--out",
        type=_out_dir,
        default="report",
        metavar="DIR",
        help="report folder (default: ./report); if it exists and is not "
        "empty, DIR-2, DIR-3, ... is used instead, nothing is overwritten. "
        "'.' or '..' puts the report in a new folder 'report' inside it "
        "(./report, ../report; again -2, -3, ... if taken)",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="seed of every fit (default: 0)")
    demo.add_argument(
        "--quick", action="store_true", help="cut-down run (fewer orders and draws), for tests"
    )
    demo.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch intra-op threads during the demo (default: 1; the models "
        "are small and extra threads mostly contend for the cores)",
    )
    demo.add_argument(
        "--netcdf",
        action="store_true",
        help="also write each fit's ArviZ data as posterior.nc (several MB each)",
    )
    rep = commands.add_parser(
        "report",
        help="write the report folder of one saved fit",
        description="Write a report folder (index.html, index.md, PNG figures) for a fit "
        "saved with fit.save(path): the data, the fit's summary() table, the "
        "verdict on its diagnostics and its figures, each with the call that "
        "draws it.",
    )
    rep.add_argument(
        "fit_file", metavar="FIT_FILE", help="a .npz file written by fit.save() (any model)"
    )
    rep.add_argument(
        "--out",
        type=_out_dir,
        default="report",
        metavar="DIR",
        help="report folder (default: ./report); if it exists and is not empty, "
        "DIR-2, DIR-3, ... is used instead, nothing is overwritten",
    )
    rep.set_defaults(subparser=rep)  # its own usage line for the errors about FIT_FILE
    return parser


def _load_fit(parser: argparse.ArgumentParser, path: str):
    """``probmodels.load(path)``, or a usage error (exit code 2) saying what the file is."""
    import probmodels as pm

    target = Path(path)
    if target.is_dir():
        parser.error(
            f"argument FIT_FILE: {path!r} is a folder; pass the .npz file that "
            f"fit.save() wrote (e.g. {str(target / 'fit.npz')!r})."
        )
    try:
        return pm.load(target)
    except FileNotFoundError:
        parser.error(
            f"argument FIT_FILE: no file at {path!r} (nor {target.name + '.npz'!r}); "
            f"pass the path that fit.save() returned."
        )
    except (ValueError, TypeError, OSError) as exc:
        parser.error(f"argument FIT_FILE: {path!r} is not a fit this probmodels can read: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: ``probmodels demo`` or ``probmodels report``.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``probmodels`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status, 0 on success (a usage error exits with status 2 instead).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from probmodels.report import ReportOptions

        options = ReportOptions(seed=args.seed, quick=args.quick, netcdf=args.netcdf)
        root = _demo(args.out, options, args.threads)
    else:
        fit = _load_fit(args.subparser, args.fit_file)
        root = _report(fit, args.fit_file, args.out)
    print(root / "index.html")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
