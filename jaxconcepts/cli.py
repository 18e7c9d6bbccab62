"""``jaxconcepts <stage> [--dataset NAME] [--params params.yaml]``: one entry point for every stage.

Each stage is the module ``jaxconcepts.stages.<stage>`` with a ``main(argv)``; DVC calls these
same commands, and they are usable by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import jaxconcepts.stages as _stages


def stages() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(_stages.__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = stages()
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__.strip() + "\n\nstages: " + ", ".join(names))
        return
    if argv[0] in {"-V", "--version"}:
        from jaxconcepts import __version__

        print(__version__)
        return
    name, rest = argv[0], argv[1:]
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        sys.exit(f"jaxconcepts: unknown stage {name!r}{hint} (stages: {', '.join(names)})")
    importlib.import_module(f"jaxconcepts.stages.{name}").main(rest)


if __name__ == "__main__":
    main()
