"""``python -m probmodels.infer._chain_process``: one NUTS chain in its own process.

Reads ``pickle((target, config, chain, seed, num_threads))`` on standard input and
writes ``pickle((status, value))`` on standard output: ``("ok", (samples, stats))``,
``("unloadable", message)`` when the target cannot be unpickled here (the parent
then runs the chain itself) or ``("error", message)``. Not imported by the package,
so running it as a module does not import it twice.
"""

import pickle
import sys


def main() -> None:
    payload = sys.stdin.buffer.read()
    try:
        target, config, chain, seed, num_threads = pickle.loads(payload)
    except Exception as exc:
        result = ("unloadable", f"{type(exc).__name__}: {exc}")
    else:
        from probmodels.infer.nuts import _run_chain

        try:
            result = ("ok", _run_chain(target, config, chain, seed, num_threads, False))
        except BaseException as exc:  # reported to the parent, which raises
            result = ("error", f"{type(exc).__name__}: {exc}")
    sys.stdout.buffer.write(pickle.dumps(result))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
