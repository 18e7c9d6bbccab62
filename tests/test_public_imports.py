"""What users copy imports only public names: the README's Python blocks, ``benchmarks/`` and
``scripts/`` import no private ``jaxconcepts`` module (a path segment starting with ``_``) and no
private name (``from jaxconcepts.x import _name``); every benchmark imports and answers
``--help`` (a smoke test, not a run; ``tests/test_scripts.py`` does the same for ``scripts/``)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "scripts").glob("*.py")])
BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


def _private(name: str) -> bool:
    return any(p.startswith("_") and p not in ("__init__", "__main__") for p in name.split("."))


def private_imports(source: str, where: str = "<code>") -> list[str]:
    """Every jaxconcepts import in ``source`` that reaches a private module or name."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "jaxconcepts"]
        elif isinstance(node, ast.ImportFrom) and not node.level \
                and (node.module or "").split(".")[0] == "jaxconcepts":
            names = [node.module] if _private(node.module) else \
                [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found += [f"line {node.lineno}: {n}" for n in names if _private(n)]
    return found


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_checker_sees_private_imports():
    bad = ("import jaxconcepts._io\nfrom jaxconcepts.concepts._cgap import cgap\n"
           "from jaxconcepts.features import _loader\nfrom jaxconcepts import _parts\n"
           "from jaxconcepts.concepts import cgap\nimport jaxconcepts.mesh\n"
           "from benchmarks._common import Timer\nfrom . import _x\n")
    assert [s.split(": ")[1] for s in private_imports(bad)] == [
        "jaxconcepts._io", "jaxconcepts.concepts._cgap", "jaxconcepts.features._loader",
        "jaxconcepts._parts"]
    assert readme_blocks() and FILES


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(ROOT).as_posix() for p in FILES])
def test_benchmarks_and_scripts_import_no_private_name(path):
    found = private_imports(path.read_text(), str(path))
    assert not found, f"{path.relative_to(ROOT)} imports private names: {found}"


def test_readme_examples_import_no_private_name():
    found = [f for code in readme_blocks() for f in private_imports(code, "README.md")]
    assert not found, f"README.md's Python blocks import private names: {found}"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_imports_and_answers_help(name, capsys):
    module = importlib.import_module(f"benchmarks.{name}")
    if name.startswith("_") and name != "__main__":
        return  # a helper module: importing it is the check
    with pytest.raises(SystemExit) as e:
        module.main(["--help"])  # argparse prints the usage and exits 0; nothing else runs
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out
