"""glibc malloc settings for batch-by-batch JAX work on the CPU.

With glibc's defaults, every batch-sized array (above glibc's mmap threshold, 128 KiB to
32 MiB) is mapped fresh and returned to the system when freed, so each step of a streamed fit
pays the kernel's zeroing of every page its buffers touch. Inside one ``lax.scan`` XLA reuses
its buffers, so an in-memory fit does not pay it; a Python loop of jitted steps (the streamed
SAE, C2MF and NMF fits, the stages' batch loops) does, on every call. The README's speed
section has what that cost on our machine.

- The stages restart themselves with :data:`MALLOC_TUNABLES` in ``GLIBC_TUNABLES``
  (``jaxconcepts/cli.py``; child processes inherit them); ``scripts/test.sh`` sets them too.
- A research script calls :func:`tune_malloc` once, first: the same effect at run time, through
  ``mallopt`` (no blocks mapped fresh, freed memory kept in the process), for the allocations
  that follow.
- :func:`warn_if_untuned` warns once per process where neither is in effect; the streamed SAE
  fit calls it.

Memory freed is reused by the process, not returned to the system before it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings

__all__ = ["MALLOC_TUNABLES", "malloc_tuned", "tune_malloc", "warn_if_untuned"]

#: ``GLIBC_TUNABLES`` for every stage: serve large blocks from the heap (mmap threshold) and keep
#: freed memory in the process (trim threshold).
MALLOC_TUNABLES = ("glibc.malloc.mmap_threshold=4294967296:"
                   "glibc.malloc.trim_threshold=8589934592")

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4  # glibc's malloc.h
_INT_MAX = 2 ** 31 - 1
_state = {"tuned": False, "warned": False}


def _glibc():
    """glibc's ``libc`` (``None`` off Linux or under another C library, e.g. musl)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # glibc only
    except (OSError, AttributeError):
        return None
    return libc


def tune_malloc() -> bool:
    """Set glibc's malloc, from now on in this process, as the stages run: no block mapped fresh
    (``M_MMAP_MAX`` 0, ``M_MMAP_THRESHOLD`` at its maximum) and freed memory kept
    (``M_TRIM_THRESHOLD`` at its maximum). Call it
    once, before the work. Returns whether it took effect (False off glibc: nothing changed)."""
    libc = _glibc()
    if libc is None:
        return False
    ok = all(bool(libc.mallopt(param, value)) for param, value in (
        (_M_MMAP_MAX, 0), (_M_MMAP_THRESHOLD, _INT_MAX), (_M_TRIM_THRESHOLD, _INT_MAX)))
    _state["tuned"] = _state["tuned"] or ok
    return ok


def malloc_tuned() -> bool:
    """Whether this process runs with the settings: :func:`tune_malloc` was called, or some
    glibc malloc tunable was set in ``GLIBC_TUNABLES`` at its start (yours win)."""
    return _state["tuned"] or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")


def warn_if_untuned(what: str) -> None:
    """Warn once per process (a ``RuntimeWarning`` naming ``what``) where glibc's defaults are
    in effect and :func:`tune_malloc` would change them; ``JAXCONCEPTS_MALLOC=0`` silences it."""
    if (_state["warned"] or malloc_tuned() or os.environ.get("JAXCONCEPTS_MALLOC", "1") == "0"
            or _glibc() is None):
        return
    _state["warned"] = True
    warnings.warn(
        f"{what} runs a Python loop of jitted steps, and with glibc's default malloc settings "
        "each step maps its buffers fresh and the kernel zeroes their pages: call "
        "jaxconcepts.tune_malloc() once at the start of the script (or run it with "
        f"GLIBC_TUNABLES={MALLOC_TUNABLES}); JAXCONCEPTS_MALLOC=0 silences this warning",
        RuntimeWarning, stacklevel=3)
