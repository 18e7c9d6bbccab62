"""``python -m benchmarks NAME [args...]`` runs ``benchmarks/<NAME>.py``'s ``main(args)``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    names = available()
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m benchmarks NAME [args...]; NAME in {names}")
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in names:
        sys.exit(f"unknown benchmark {name!r}; valid choices: {names}")
    module = importlib.import_module(f"benchmarks.{name}")
    module.main(rest)


if __name__ == "__main__":
    main()
