#!/usr/bin/env bash
# Set up (if needed) and run the whole pipeline on the embedded default: DVC's stages, two at a time
# (jaxconcepts/pipeline.py; JAXCONCEPTS_JOBS=1 for one at a time), recorded in dvc.lock as
# `dvc repro` records them. Arguments: --force, stage names (e.g. report@photos).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export DVC_NO_ANALYTICS=1
.venv/bin/python -m jaxconcepts.pipeline "$@"
echo "done: open reports/index.html (metrics: .venv/bin/dvc metrics show)"
