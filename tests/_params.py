"""Params files for stage tests: the repository's params.yaml with some values overridden.

Every section must hold every key (jaxconcepts._params), so tests start from the real file and
change only what they need.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO_PARAMS = Path(__file__).parents[1] / "params.yaml"


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def repo_params(**overrides: Any) -> dict:
    """The repository's params with ``overrides`` merged in section by section; ``datasets``
    (when given) replaces the datasets mapping."""
    base = yaml.safe_load(REPO_PARAMS.read_text())
    datasets = overrides.pop("datasets", None)
    out = _merge(base, overrides)
    if datasets is not None:
        out["datasets"] = datasets
    return out


def write_params(path: str | Path, **overrides: Any) -> Path:
    path = Path(path)
    path.write_text(yaml.safe_dump(repo_params(**overrides), sort_keys=False))
    return path
