"""glibc malloc settings (``jaxconcepts/_malloc.py``): ``tune_malloc`` takes effect at run time,
the streamed fits warn once where neither it nor the stages' tunables are in effect. Each case
runs in a fresh interpreter: the settings and the warning are per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def _run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("GLIBC_TUNABLES", "JAXCONCEPTS_MALLOC")}
    return subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=ROOT, text=True,
                          capture_output=True, env={**clean, **env}, timeout=120)


WARN_TWICE = ("from jaxconcepts._malloc import warn_if_untuned as w\n"
              "w('fit_x'); w('fit_x')\n")


def test_untuned_process_warns_once_naming_the_fix():
    res = _run(WARN_TWICE)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("RuntimeWarning") == 1
    assert "fit_x" in res.stderr and "jaxconcepts.tune_malloc()" in res.stderr


@pytest.mark.parametrize("setup, env", [
    ("import jaxconcepts; assert jaxconcepts.tune_malloc() is True\n", {}),
    ("", {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=8589934592"}),
    ("", {"JAXCONCEPTS_MALLOC": "0"}),
])
def test_tuned_or_silenced_process_does_not_warn(setup, env):
    res = _run(setup + "from jaxconcepts._malloc import malloc_tuned\n" + WARN_TWICE
               + "print(malloc_tuned())\n", **env)
    assert res.returncode == 0, res.stderr
    assert "RuntimeWarning" not in res.stderr
    assert res.stdout.strip() == str(not env.get("JAXCONCEPTS_MALLOC"))


def test_the_cli_restarts_with_the_same_tunables():
    from jaxconcepts import _malloc, cli

    assert cli.MALLOC_TUNABLES == _malloc.MALLOC_TUNABLES
    assert "glibc.malloc.mmap_threshold=" in cli.MALLOC_TUNABLES
