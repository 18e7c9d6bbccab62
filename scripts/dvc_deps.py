"""Rewrite the code deps of every stage (dvc.yaml, scoreboard/dvc.yaml) from what it can run.

    .venv/bin/python scripts/dvc_deps.py          # rewrite dvc.yaml in place
    .venv/bin/python scripts/dvc_deps.py --check  # exit 1 and list the stages that would change

For each stage, ``tests/stages/_loaded.py`` imports the stage in a fresh interpreter and follows
every jaxconcepts import it can reach. The stage's ``jaxconcepts/...`` deps become those files,
with a folder written as the folder when every module in it is loaded. Data deps (``data/``,
``reports/``, ``${item...}``) are kept as they are. ``tests/stages/test_dvc_deps.py`` checks the
result, so a new import that is not declared fails the tests until this script is rerun.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]


def loaded(module: str) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "tests.stages._loaded", module], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if res.returncode:
        raise SystemExit(f"{module}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def compress(files: list[str]) -> list[str]:
    """Files, with a folder replacing its files when every .py file in it is listed."""
    files = sorted(set(files))
    out: list[str] = []
    folders = sorted({str(Path(f).parent) for f in files if Path(f).parent != Path("jaxconcepts")})
    whole = [d for d in folders
             if {p.relative_to(ROOT).as_posix() for p in (ROOT / d).glob("*.py")} <= set(files)]
    for f in files:
        if str(Path(f).parent) not in whole:
            out.append(f)
    return sorted(out + whole)


def rewrite(path: Path, yaml: YAML, cache: dict[str, list[str]], check: bool) -> list[str]:
    """Rewrite (with ``check``: only list) the stages of one dvc.yaml with stale code deps."""
    doc = yaml.load(path.read_text())
    changed = []
    for name, stage in doc["stages"].items():
        body = stage.get("do", stage)
        module = "jaxconcepts.stages." + body["cmd"].split()[1]
        if module not in cache:
            cache[module] = compress(loaded(module))
        deps = body["deps"]
        keep = [d for d in deps if not str(d).startswith("jaxconcepts/")]
        new = keep + cache[module]
        if [str(d) for d in deps] != new:
            changed.append(f"{path.relative_to(ROOT)}:{name}")
            deps.clear()
            deps.extend(new)
    if changed and not check:
        with path.open("w") as f:
            yaml.dump(doc, f)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="rewrite nothing: exit 1 and list the stages whose code deps would change")
    check = ap.parse_args(argv).check
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    cache: dict[str, list[str]] = {}
    changed = [c for path in (ROOT / "dvc.yaml", ROOT / "scoreboard" / "dvc.yaml")
               for c in rewrite(path, yaml, cache, check)]
    if check:
        if changed:
            print("stale code deps:", ", ".join(changed))
            return 1
        return 0
    print("rewrote code deps of:", ", ".join(changed) or "nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
