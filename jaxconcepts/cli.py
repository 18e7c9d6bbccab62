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
#: ... and without its MLIR fusion emitters for the stages whose time is mostly compiling many
#: small programs (the older emitters compile them faster; the compute-heavy stages, ``c2mf``
#: and the scoreboard's fits, ran slower without them, so they keep XLA's default).
NO_FUSION_EMITTERS = "--xla_cpu_use_fusion_emitters=false"
COMPILE_BOUND_STAGES = frozenset({"concepts", "compare", "figures", "recovery", "explore"})
#: jaxlib versions whose XLA is known to have the flag (an unknown flag in ``XLA_FLAGS`` aborts
#: the process that starts a backend, so it is only set where tested).
_FUSION_EMITTERS_JAXLIB = ((0, 10), (0, 11))
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "libtpu")


def _jaxlib_knows_fusion_emitters() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        major_minor = tuple(int(p) for p in version("jaxlib").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    lo, hi = _FUSION_EMITTERS_JAXLIB
    return lo <= major_minor < hi


def use_cpu_compile_level(stage: str | None = None) -> None:
    """Compile XLA's CPU programs at LLVM optimisation level 1 instead of the default, and for
    the stages of :data:`COMPILE_BOUND_STAGES` without XLA's fusion emitters.

    Most stages run small inputs through many distinct programs, so on a CPU much of their time
    is XLA compiling; level 1 compiles faster, and on the default pipeline the stages' CPU time
    fell overall, the compute-heavy C2MF stages included (the README has the figures). The
    older emitters compile faster again but run some programs slower, hence the list. Neither
    changes what the programs compute: floats may differ in their last bits, as they do
    between machines. Skipped where a GPU or TPU plugin is installed (its kernels keep XLA's
    defaults); each is skipped when ``XLA_FLAGS`` already names it (yours wins;
    ``--xla_backend_optimization_level=2`` restores the default level). Set before JAX is
    imported; child processes inherit it.
    """
    import importlib.util

    if any(importlib.util.find_spec(p) is not None for p in _ACCELERATOR_PLUGINS):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        flags = f"{flags} {CPU_COMPILE_LEVEL}"
    if (stage in COMPILE_BOUND_STAGES and "xla_cpu_use_fusion_emitters" not in flags
            and _jaxlib_knows_fusion_emitters()):
        flags = f"{flags} {NO_FUSION_EMITTERS}"
    if flags.strip():
        os.environ["XLA_FLAGS"] = flags.strip()


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
    use_cpu_compile_level(name)
    importlib.import_module(f"jaxconcepts.stages.{name}").main(rest)


if __name__ == "__main__":
    main()
