#!/usr/bin/env bash
# Create .venv (if missing) and install jaxconcepts with its test extra. Idempotent: re-running
# with unchanged pyproject.toml / constraints does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
  || { echo "jaxconcepts needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.jaxconcepts-install
want=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing jaxconcepts into .venv (first time: several minutes, ~6 GB for torch)"
  log=.venv/install.log
  # uv (from PyPI, into .venv) downloads and unpacks in parallel: about 4x faster than pip here
  # for torch's ~3 GB of wheels. JAXCONCEPTS_INSTALLER=pip, or any uv failure, falls back to pip.
  installed=
  if [ "${JAXCONCEPTS_INSTALLER:-uv}" = uv ] \
     && { .venv/bin/python -m pip install -q uv \
          && .venv/bin/uv pip install --python .venv/bin/python \
               -c requirements/constraints.txt -e ".[test]"; } >"$log" 2>&1; then
    installed=1
  fi
  if [ -z "$installed" ] && ! { echo "setup: installing with pip" \
         && .venv/bin/python -m pip install --upgrade pip \
         && .venv/bin/python -m pip install -c requirements/constraints.txt -e ".[test]"; } >>"$log" 2>&1
  then
    tail -n 40 "$log" >&2
    echo "setup: pip install failed; full log in $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
# Bytecode for every installed module, once per install. uv installs without it, and where
# PYTHONDONTWRITEBYTECODE is set Python never writes it: then every stage, test subprocess and
# worker compiled torch's, JAX's and the others' sources again on import (seconds a process).
pyc=.venv/.jaxconcepts-bytecode
if [ "$(cat "$pyc" 2>/dev/null)" != "$want" ]; then
  echo "setup: compiling the installed packages' bytecode (once per install)"
  # exit status ignored: a few test files inside packages are not valid Python 3 on purpose.
  # Skipped: packages' own test suites and tools no stage or test imports (a module left out is
  # compiled in memory when imported, as before; nothing else changes)
  .venv/bin/python -m compileall -q -j 0 \
    -x '/(tests|pip|setuptools|celery|kombu|billiard|prompt_toolkit|pydantic|pydantic_core|fontTools)/' \
    .venv/lib/python3*/site-packages jaxconcepts >/dev/null 2>&1 || true
  echo "$want" > "$pyc"
fi
# DVC: no analytics from this repo, whatever the user's global config says.
export DVC_NO_ANALYTICS=1
