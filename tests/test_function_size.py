"""A function-size budget for ``jaxconcepts/``, in place of the old file-size cap.

A cap on file length split files at arbitrary seams (and created import cycles) while 200-line
functions went untouched. What makes code hard to read is a long function, so the budget is on
functions: every function and method (nested ones included, named ``outer.inner``) is measured with
``ast`` as ``end_lineno - lineno + 1`` (from its ``def`` line, decorators excluded, docstring and
comments included) and should fit in :data:`BUDGET` lines.

Functions already over budget are listed in :data:`KNOWN` with their current length. The test fails
when

- an unlisted function exceeds the budget,
- a listed function grew beyond its recorded length, or
- a listed function got shorter but is still over budget: record its new length, or
- a listed function no longer exceeds the budget (or is gone): remove it, so the list only shrinks.

The budget is a hint for where to look, never a reason to squeeze code to fit: do not pack
statements, drop comments or split a function at an arbitrary line to get under it. Split where a
seam already exists (a phase, a helper with a name), or leave the function listed.

Refresh the list after a deliberate change (e.g. a merge that adds a folder)::

    python -m tests.test_function_size --print   # from the repository root
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxconcepts"
BUDGET = 80

#: ``"module:qualname": lines`` of the functions over :data:`BUDGET` today; may only shrink.
KNOWN = {
    "jaxconcepts.features._extract:extract": 93,
    "jaxconcepts.concepts._c2mf:fit_c2mf": 89,
    "jaxconcepts.streaming._c2mf:fit_c2mf_streamed": 92,
    "jaxconcepts.features._train:fit_classifier": 93,
    "jaxconcepts.evaluation.c2mf._alpha_sweep:alpha_sweep": 88,
    "jaxconcepts.features._crops:extract_crops": 88,
    "jaxconcepts._parts:load_parts": 85,
}


def _functions(node: ast.AST, prefix: str = ""):
    """``(qualname, lines)`` of every function under ``node``, nested ones as ``outer.inner``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                yield name, child.end_lineno - child.lineno + 1
            yield from _functions(child, f"{name}.")
        else:
            yield from _functions(child, prefix)  # defined under if/try/with blocks


def function_sizes(package: Path = PACKAGE) -> dict[str, int]:
    """``{"module:qualname": lines}`` of every function and method under ``package``."""
    sizes: dict[str, int] = {}
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, lines in _functions(tree):
            key = f"{module}:{name}"
            sizes[key] = max(sizes.get(key, 0), lines)  # a redefinition keeps the longest
    return sizes


def over_budget(sizes: dict[str, int], budget: int = BUDGET) -> dict[str, int]:
    """The entries of ``sizes`` longer than ``budget``, longest first."""
    return dict(sorted(((k, n) for k, n in sizes.items() if n > budget),
                       key=lambda kv: (-kv[1], kv[0])))


def test_function_size_budget():
    sizes = function_sizes(PACKAGE)
    assert sizes, f"no functions found under {PACKAGE}"
    new = {k: n for k, n in over_budget(sizes).items() if k not in KNOWN}
    grew = {k: (KNOWN[k], sizes[k]) for k in KNOWN if sizes.get(k, 0) > KNOWN[k]}
    shrank = {k: (KNOWN[k], sizes[k]) for k in KNOWN if BUDGET < sizes.get(k, 0) < KNOWN[k]}
    fits = sorted(k for k in KNOWN if sizes.get(k, 0) <= BUDGET)
    problems = []
    if new:
        problems.append(f"over the {BUDGET}-line budget and not in KNOWN (split it where a seam "
                        f"exists, or list it): {new}")
    if grew:
        problems.append(f"grew beyond the length KNOWN records (recorded, now): {grew}")
    if shrank:  # record the shorter length, so the list cannot grow back to its old figure
        problems.append(f"shorter than KNOWN records; record the new length (recorded, now): "
                        f"{shrank}")
    if fits:
        problems.append(f"now within the budget or gone; remove from KNOWN: {fits}")
    assert not problems, "\n".join(problems)


def _print_known(out=sys.stdout) -> None:
    print("KNOWN = {", file=out)
    for k, n in over_budget(function_sizes(PACKAGE)).items():
        print(f'    "{k}": {n},', file=out)
    print("}", file=out)


if __name__ == "__main__":
    if sys.argv[1:] != ["--print"]:
        raise SystemExit("usage: python -m tests.test_function_size --print")
    _print_known()
