#!/usr/bin/env bash
# Set up (if needed) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# 2 pytest-xdist workers (the suite is mostly single-threaded XLA compiling); TEST_WORKERS=0 runs
# it in this one process. loadgroup: like load, but an xdist_group's tests share one worker.
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup "$@"
