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
from jaxconcepts._malloc import MALLOC_TUNABLES  # the stages' glibc malloc settings


def stages() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(_stages.__path__)
                  if not m.name.startswith("_"))


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


#: XLA's CPU backend at LLVM optimisation level 1 for every stage (:func:`use_cpu_compile_level`).
CPU_COMPILE_LEVEL = "--xla_backend_optimization_level=1"
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "libtpu")


def use_cpu_compile_level() -> None:
    """Compile XLA's CPU programs at LLVM optimisation level 1 instead of the default.

    Most stages run small inputs through many distinct programs, so on a CPU much of their time
    is XLA compiling; level 1 compiles faster, and on the default pipeline the stages' CPU time
    fell overall, the compute-heavy C2MF stages included (the README has the figures). It
    changes how the compiled code runs, not what it computes: floats may differ in their last
    bits, as they do between machines. Skipped where a GPU or TPU plugin is installed (its
    kernels keep XLA's defaults), and when ``XLA_FLAGS`` already names an optimisation level
    (yours wins; ``--xla_backend_optimization_level=2`` restores the default). Set before JAX
    is imported; child processes inherit it.
    """
    import importlib.util

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" in flags or any(
            importlib.util.find_spec(p) is not None for p in _ACCELERATOR_PLUGINS):
        return
    os.environ["XLA_FLAGS"] = f"{flags} {CPU_COMPILE_LEVEL}".strip()


def tune_malloc_and_reexec(argv: list[str]) -> None:
    """Run this command again with :data:`MALLOC_TUNABLES` in ``GLIBC_TUNABLES`` (read by glibc at
    process start only, hence the ``exec``; child processes inherit them). A no-op off Linux,
    when any glibc malloc tunable is already set (yours win), or with ``JAXCONCEPTS_MALLOC=0``."""
    current = os.environ.get("GLIBC_TUNABLES", "")
    if (not sys.platform.startswith("linux") or "glibc.malloc." in current
            or os.environ.get("JAXCONCEPTS_MALLOC", "1") == "0"):
        return
    os.environ["GLIBC_TUNABLES"] = f"{current}:{MALLOC_TUNABLES}" if current else MALLOC_TUNABLES
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "jaxconcepts.cli", *argv])


def main(argv: list[str] | None = None) -> None:
    if argv is None:  # the command line (not a caller's own process): restart with the tunables
        tune_malloc_and_reexec(sys.argv[1:])
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
    use_cpu_compile_level()
    importlib.import_module(f"jaxconcepts.stages.{name}").main(rest)


if __name__ == "__main__":
    main()
