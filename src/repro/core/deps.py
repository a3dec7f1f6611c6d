"""Which library files a workflow script depends on, found by following its `repro` imports.

Snakemake does not see Python imports, so every rule lists the library files its script imports as
`input:`. Computing that list from the import graph (instead of writing it by hand in each rule) keeps it
exact: editing `studies/entp/data.py` reruns the entp jobs that import it and nothing else.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "repro"


def _imports(path: Path) -> set[str]:
    """Dotted names of `repro` modules (and `from repro.x import y` candidates) imported by a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == PACKAGE:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}  # may name a submodule
    return found


def _module_file(name: str, src: Path) -> Path | None:
    base = src.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


@lru_cache(maxsize=None)
def library_files(script: str, src: str = "src") -> tuple[str, ...]:
    """Every file under `src` that `script` imports, directly or through other library modules,
    including the package `__init__.py` files Python executes on the way. Paths relative to the cwd."""
    src_path = Path(src)
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        for name in _imports(todo.pop()):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
                f = _module_file(".".join(parts[:i]), src_path)
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return tuple(sorted(str(p) for p in seen))
