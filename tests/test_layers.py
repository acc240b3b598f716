"""The layering of core/: a lower layer never imports a higher one (static: every import statement,
module level or inside a function, is read from the source)."""
from __future__ import annotations

import ast

import pytest

from core.paths import REPO_ROOT

# package -> packages its library modules must not import (the CLI modules wire layers together)
FORBIDDEN = {
    "core/sid": ("core.llm", "core.train", "core.eval", "core.corpus"),
    "core/data": ("core.sid", "core.llm", "core.train", "core.eval", "core.corpus"),
    "core/eval": ("core.train",),
}


def _imports(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(package):
    files = [p for p in (REPO_ROOT / package).glob("*.py") if p.name != "cli.py"]
    assert files
    bad = {f"{p.name} imports {name}" for p in files for name in _imports(p)
           if name.startswith(FORBIDDEN[package])}
    assert not bad, sorted(bad)
