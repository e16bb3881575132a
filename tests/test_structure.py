"""The package's shape, checked with ast: no import cycles among its modules, no module
over 800 lines, no function or method over 150 lines, no report code in the models."""

import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "probmodels"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 150


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (at any depth of the module: lazy imports count;
    imports under ``if TYPE_CHECKING:`` are for the type checker only and never run)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _top_level_only(name: str, path: Path, known: set[str]) -> set[str]:
    """Imports executed when the module is imported (module level, not inside functions)."""
    tree = ast.parse(path.read_text())
    shallow = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))],
                         type_ignores=[])
    tmp = path.with_name(".structure_probe.py")
    try:
        tmp.write_text(ast.unparse(shallow))
        return _imports(name, tmp, known)
    finally:
        tmp.unlink()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_import_cycle_among_the_modules():
    modules = _modules()
    known = set(modules)
    # a package's __init__ importing its own submodules is how packages expose them, and a
    # submodule importing its parent package is a cycle only through those: leave parent
    # packages out of each module's edges
    graph = {n: {m for m in _imports(n, p, known) if m not in _parents(n)} for n, p in modules.items()}
    graph = {n: {m for m in deps if not m.startswith(n + ".") or n == "probmodels"} for n, deps in graph.items()}
    graph.pop("probmodels", None)  # the lazy public namespace
    assert _cycles(graph) == []


def test_modules_and_functions_are_short():
    long_modules, long_functions = [], []
    for name, path in _modules().items():
        source = path.read_text()
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            long_modules.append(f"{name} ({lines})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name} ({length})")
    assert long_modules == [] and long_functions == []


def test_no_report_or_demo_code_in_the_models_and_nn_has_no_pyro():
    modules = _modules()
    known = set(modules)
    for name, path in modules.items():
        deps = _imports(name, path, known)
        if name.startswith("probmodels.models"):
            assert not {d for d in deps if d.startswith(("probmodels.report", "probmodels.cli"))}, name
            assert "def demo" not in path.read_text(), name
        if name.startswith("probmodels.nn"):
            assert "import pyro" not in path.read_text() and "from pyro" not in path.read_text(), name
        if name in ("probmodels.export", "probmodels.diagnostics"):
            assert "import torch" not in path.read_text(), name
