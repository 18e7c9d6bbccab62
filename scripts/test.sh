#!/usr/bin/env bash
# Set up (if needed) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# the stages' glibc malloc settings (jaxconcepts/cli.py) for the suite too, unless you set your own
if [[ "${GLIBC_TUNABLES:-}" != *glibc.malloc.* && "${JAXCONCEPTS_MALLOC:-1}" != 0 ]]; then
  GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}$(.venv/bin/python -c \
    'from jaxconcepts.cli import MALLOC_TUNABLES; print(MALLOC_TUNABLES)')"
  export GLIBC_TUNABLES
fi
exec .venv/bin/python -m pytest "$@"
