#!/usr/bin/env bash
# Set up (if needed) and run the whole pipeline on the embedded default: `dvc repro`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export DVC_NO_ANALYTICS=1
.venv/bin/dvc repro "$@"
echo "done: open reports/index.html (metrics: .venv/bin/dvc metrics show)"
