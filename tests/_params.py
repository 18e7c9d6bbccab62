"""Params files for stage tests: a committed params file with some values overridden (served as
the ``params_file`` fixture by ``tests/conftest.py``).

Every section must hold every key (jaxconcepts._params), so tests start from the real file and
change only what they need.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
REPO_PARAMS = ROOT / "params.yaml"
SCOREBOARD_PARAMS = ROOT / "scoreboard" / "params.yaml"


def _merge(base: dict, over: dict, whole: set[str], at: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        path = f"{at}{k}"
        deep = isinstance(v, dict) and isinstance(out.get(k), dict) and path not in whole
        out[k] = _merge(out[k], v, whole, f"{path}.") if deep else v
    return out


def repo_params(*, base: str | Path = REPO_PARAMS, whole: Iterable[str] = ("datasets",),
                drop: Iterable[str] = (), **overrides: Any) -> dict:
    """The params at ``base`` (the repository's ``params.yaml``) with ``overrides`` merged in
    section by section, key by key; an override at a dotted path in ``whole`` replaces that
    mapping instead (``datasets`` by default: the datasets mapping is the test's own); the keys
    at the dotted paths in ``drop`` are then deleted (a missing key's error)."""
    out = _merge(yaml.safe_load(Path(base).read_text()), overrides, set(whole))
    for path in drop:
        *parents, last = path.split(".")
        node = out
        for k in parents:
            node = node[k]
        del node[last]
    return out


def write_params(path: str | Path, **kw: Any) -> Path:
    """Write :func:`repo_params` (same arguments) to ``path``; returns ``path``."""
    path = Path(path)
    path.write_text(yaml.safe_dump(repo_params(**kw), sort_keys=False))
    return path
