"""The tests mirror the package: one test file per module.

For every module ``jaxconcepts/<folders>/<name>.py`` (``__init__.py`` aside) the test file is
``tests/<folders>/test_<name>.py``, the module's leading ``_`` dropped (``concepts/_cgap.py`` ->
``tests/concepts/test_cgap.py``).

Modules without such a file are listed in :data:`KNOWN_UNTESTED`. The list may only shrink: the
test fails when

- a module outside the list has no test file (add ``tests/<folders>/test_<name>.py``),
- a listed module gained its test file (remove it from the list), or
- a listed module is gone (remove it from the list).

A few test files are not one module's: they check a claim across modules (e.g.
``tests/concepts/test_c2mf_proof.py``, ``tests/stages/test_spine.py``); this test does not forbid
them.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxconcepts"
TESTS = ROOT / "tests"

KNOWN_UNTESTED = {
    "datasets/_writer.py",
    "explorer/_write.py",
    "features/_embedded.py",
    "features/_heads.py",
    "features/_train.py",
    "runners/_recovery.py",
    "stages/_board.py",
    "stages/_generated.py",
    "stages/crops.py",
    "stages/explore.py",
    "stages/extract.py",
    "stages/prepare.py",
    "stages/report.py",
    "stages/train.py",
}


def _test_file_for(module: Path) -> Path:
    """``jaxconcepts/a/_b.py`` -> ``tests/a/test_b.py``."""
    rel = module.relative_to(PACKAGE)
    return TESTS / rel.parent / f"test_{module.stem.lstrip('_')}.py"


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_every_module_has_its_test_file():
    have = {p.relative_to(PACKAGE).as_posix(): _test_file_for(p).is_file() for p in modules()}
    missing = sorted(m for m, ok in have.items() if not ok and m not in KNOWN_UNTESTED)
    gained = sorted(m for m in KNOWN_UNTESTED if have.get(m))
    gone = sorted(m for m in KNOWN_UNTESTED if m not in have)
    problems = []
    if missing:
        problems.append("modules without tests/<folders>/test_<name>.py (add one): "
                        + ", ".join(missing))
    if gained:
        problems.append("listed in KNOWN_UNTESTED but now have a test file; remove them: "
                        + ", ".join(gained))
    if gone:
        problems.append("listed in KNOWN_UNTESTED but no longer exist; remove them: "
                        + ", ".join(gone))
    assert not problems, "\n".join(problems)
