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
# one pytest worker per core (at most 4; JAXCONCEPTS_TEST_WORKERS=N sets it, 0 runs in one
# process), a test file per worker at a time: most of the suite compiles XLA programs on one
# thread, so a second worker uses the second core. Your own -n wins.
workers=${JAXCONCEPTS_TEST_WORKERS:-$(.venv/bin/python -c \
  'import os; print(min(4, len(os.sched_getaffinity(0))))')}
parallel=()
if [[ " $* " != *" -n "* && " $* " != *" -n="* && "$workers" -gt 1 ]]; then
  parallel=(-n "$workers" --dist loadfile)
fi
exec .venv/bin/python -m pytest "${parallel[@]}" "$@"
