"""Print, as JSON, every jaxconcepts source file a stage can run (run in a fresh interpreter).

``python -m tests.stages._loaded jaxconcepts.stages.figures`` imports the CLI and the stage
module, then keeps importing every jaxconcepts module named by an ``import`` statement anywhere
in a loaded module's source (inside functions too: stages import lazily) and resolving every name
a ``from jaxconcepts... import name`` asks for (which runs lazy ``__getattr__`` loaders), until
nothing new loads. The result over-approximates what ``main`` runs: a module a stage could call
is listed even when this run's params would not reach it.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _targets(module) -> list[tuple[str, str | None]]:
    """(module name, imported name or None) of every jaxconcepts import in a module's source."""
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return []
    tree = ast.parse(Path(path).read_text(), path)
    package = module.__package__ or ""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            out += [(name, a.name) for a in node.names]
    return [(m, n) for m, n in out if m == "jaxconcepts" or m.startswith("jaxconcepts.")]


def loaded_files(stage_module: str) -> list[str]:
    importlib.import_module("jaxconcepts.cli")
    importlib.import_module(stage_module)
    seen: set[str] = set()
    while True:
        new = [m for m in list(sys.modules)
               if (m == "jaxconcepts" or m.startswith("jaxconcepts.")) and m not in seen]
        if not new:
            break
        for m in new:
            seen.add(m)
            for name, attr in _targets(sys.modules[m]):
                mod = importlib.import_module(name)
                if attr is None or attr == "*":
                    continue
                try:
                    getattr(mod, attr)  # runs lazy loaders (PEP 562 __getattr__)
                except AttributeError:
                    importlib.import_module(f"{name}.{attr}")  # a submodule
    files = set()
    for m in seen:
        f = getattr(sys.modules[m], "__file__", None)
        if f:
            files.add(Path(f).resolve().relative_to(ROOT).as_posix())
    return sorted(files)


if __name__ == "__main__":
    print(json.dumps(loaded_files(sys.argv[1])))
