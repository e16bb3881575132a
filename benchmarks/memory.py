"""Peak memory (and time) of the large cases, each measured in a child process.

Every case runs in a fresh ``python -c`` child that reports its own peak resident set
size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and the seconds of the measured
call; the import-only child gives the floor (torch, Pyro, ArviZ) every case starts from.

    BayesianAR(2).fit, default method, on 1,000,000 points, and statsmodels AutoReg(2) on
    the same data (the time ratio); a 2,000,000-point two-feature GaussianMixture(2)
    fitted by minibatch SVI (``subsample_size=1000``, 500 draws), then ``predict_proba`` on
    100,000 points, ``bic(num_starts=1)``, ``to_arviz()`` (refused: the size and the
    ``num_draws`` that fits) and ``to_arviz(num_draws=5)``, each in its own child from the
    saved fit. (Memory does not depend on the number of draws: draws x data work is done in
    chunks of ``probmodels.scale.chunks.CHUNK_NUMBERS``; time grows with it, about
    0.2-0.4 ms per draw per 1,000 points for ``predict_proba`` on one core.)

Run ``python benchmarks/memory.py`` (``--quick``: a twentieth of the data, to try it).
The target is every peak under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

LIMIT_MB = 2048

PRELUDE = """
import json, resource, time, warnings
import numpy as np, torch
torch.set_num_threads(1)
warnings.simplefilter("ignore")
import probmodels as pm
def report(seconds, **extra):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB -> MiB (Linux)
    print("RESULT " + json.dumps({"seconds": seconds, "peak_mb": peak, **extra}))
def ar_series(n):
    rng = np.random.default_rng(0)
    e = rng.standard_normal(n)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 0.3 + 0.5 * y[t - 1] - 0.2 * y[t - 2] + e[t]
    return y
"""

CASES = {
    "import only": "report(0.0)",
    "AR(2) fit, 1M points": """
        y = ar_series({n_ar})
        t = time.perf_counter(); fit = pm.BayesianAR(2).fit(y, seed=0, progress=False)
        report(time.perf_counter() - t, phi=fit.draws["phi"].mean((0, 1)).tolist())""",
    "statsmodels AutoReg(2), 1M points": """
        from statsmodels.tsa.ar_model import AutoReg
        y = ar_series({n_ar})
        t = time.perf_counter(); res = AutoReg(y, 2).fit()
        report(time.perf_counter() - t, phi=res.params[1:].tolist())""",
    "GMM minibatch fit, 2M points": """
        rng = np.random.default_rng(1)
        n = {n_gmm}
        x = rng.standard_normal((n, 2)); x[: n // 3] += [4.0, -2.0]
        t = time.perf_counter()
        fit = pm.GaussianMixture(2).fit(x, subsample_size=1000, num_samples=500, seed=0,
                                        progress=False)
        seconds = time.perf_counter() - t
        fit.save({path!r})
        report(seconds, pi=fit.draws["pi"].mean((0, 1)).tolist())""",
    "GMM predict_proba, 100k points": """
        fit = pm.load({path!r})
        t = time.perf_counter(); p = fit.predict_proba(fit.data[:100_000])
        report(time.perf_counter() - t, shape=list(p.shape))""",
    "GMM bic()": """
        fit = pm.load({path!r})
        t = time.perf_counter(); b = fit.bic(num_starts=1)
        report(time.perf_counter() - t, bic=b)""",
    "GMM to_arviz()": """
        fit = pm.load({path!r})
        t = time.perf_counter()
        try:
            fit.to_arviz(); refused = None
        except ValueError as exc:
            refused = str(exc)
        report(time.perf_counter() - t, refused=refused)""",
    "GMM to_arviz(num_draws=5)": """
        fit = pm.load({path!r})
        t = time.perf_counter(); idata = fit.to_arviz(num_draws=5)
        report(time.perf_counter() - t, draws=int(idata.posterior.sizes["draw"]))""",
}


def run_case(code: str) -> dict:
    """Run ``code`` after the prelude in a child process; its RESULT line as a dict."""
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1], "peak_mb": float("nan"),
            "seconds": float("nan")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a twentieth of the data")
    args = parser.parse_args(argv)
    scale = 20 if args.quick else 1
    with tempfile.TemporaryDirectory() as tmp:
        fields = {"n_ar": 1_000_000 // scale, "n_gmm": 2_000_000 // scale,
                  "path": str(Path(tmp) / "gmm.npz")}
        results = {}
        print(f"{'case':36s} {'peak RSS':>10s} {'seconds':>9s}  notes")
        for name, code in CASES.items():
            out = results[name] = run_case(code.format(**fields))
            notes = {k: v for k, v in out.items() if k not in ("seconds", "peak_mb")}
            flag = "  OVER 2 GB" if out["peak_mb"] > LIMIT_MB else ""
            text = json.dumps(notes)
            print(f"{name:36s} {out['peak_mb']:8.0f} MB {out['seconds']:9.2f}  {text[:300]}{flag}")
    ar, ref = results["AR(2) fit, 1M points"], results["statsmodels AutoReg(2), 1M points"]
    print(f"\nAR(2) fit time / AutoReg(2) fit time on {fields['n_ar']:,} points: "
          f"{ar['seconds'] / ref['seconds']:.2f}")


if __name__ == "__main__":
    main()
