"""The public surface of probmodels.nn: a sorted __all__ of importable names, and no pyro."""

import ast
from pathlib import Path

import probmodels.nn as pnn


def test_all_is_sorted_and_importable():
    assert pnn.__all__ == sorted(pnn.__all__)
    assert len(set(pnn.__all__)) == len(pnn.__all__)
    for name in pnn.__all__:
        assert hasattr(pnn, name), name


def test_nn_never_imports_pyro():
    for path in Path(pnn.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m == "pyro" or m.startswith("pyro.") for m in modules), path.name
