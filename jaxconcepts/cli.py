"""``jaxconcepts <stage> [--dataset NAME] [--params params.yaml]``: one entry point for every stage.

Each stage is the module ``jaxconcepts.stages.<stage>`` with a ``main(argv)``; DVC calls these
same commands, and they are usable by hand.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

import jaxconcepts.stages as _stages


def stages() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(_stages.__path__) if not m.name.startswith("_"))


def use_compilation_cache(directory: str | os.PathLike = ".jax_cache") -> None:
    """Keep compiled XLA programs on disk, so stages (and their worker processes) compiling the
    same program reuse it instead of compiling again.

    The directory is relative to where the stage runs (the repository root under DVC) and is
    git-ignored. A ``JAX_COMPILATION_CACHE_DIR`` already in the environment wins; set it empty to
    turn the cache off. A cached program is the one the compiler would emit again, so results do
    not depend on it. Set before JAX is imported: JAX reads these variables at import, and child
    processes inherit them.
    """
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(directory).resolve()))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


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
    use_compilation_cache()
    importlib.import_module(f"jaxconcepts.stages.{name}").main(rest)


if __name__ == "__main__":
    main()
