"""Every script in scripts/ imports (no moved or missing names), uses only public jaxconcepts
names, and answers ``--help``: a smoke test, not a run."""

import ast
import importlib.util
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).parents[1] / "scripts").glob("*.py"))


def test_there_are_scripts():
    assert SCRIPTS


def _load(path):
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the scripts run only under __main__
    return module


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_imports_public_names_and_answers_help(path, capsys):
    private = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxconcepts"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("jaxconcepts")]
        else:
            continue
        private += [n for n in names if any(p.startswith("_") for p in n.split("."))]
    assert not private, f"{path.name} imports private names: {private}"
    module = _load(path)
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
    with pytest.raises(SystemExit) as e:
        module.main(["--help"])  # argparse prints the usage and exits 0; nothing else runs
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")
