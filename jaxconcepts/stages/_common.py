"""What every DVC stage shares: argv parsing and reading its section of ``params.yaml``.

A stage is a thin ``main(argv)``: parse ``--params`` (default ``params.yaml``) and ``--dataset``,
read its params section (with the dataset's overrides applied), call library functions, write
outputs atomically with :mod:`jaxconcepts._io`. Paths follow one layout, ``data/<dataset>/<stage>``,
defined here once (``dataset_dir``) and repeated only in ``dvc.yaml``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["stage_parser", "load_params", "dataset_params", "dataset_dir", "REPORTS"]

REPORTS = Path("reports")


def stage_parser(description: str, *, dataset: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if dataset:
        p.add_argument("--dataset", default="photos", help="dataset name in params.yaml datasets")
    return p


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file {str(path)!r} not found (run from the repo root)")
    return yaml.safe_load(path.read_text()) or {}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dataset_params(params: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The params of one dataset: top-level sections overridden by ``datasets.<name>``.

    ``params.yaml`` holds defaults per stage section (``extract:``, ``concepts:``, ...) and a
    ``datasets:`` mapping whose entries may override any section for that dataset only.
    """
    datasets = params.get("datasets") or {}
    if dataset not in datasets:
        raise ValueError(
            f"dataset={dataset!r} is not in params.yaml datasets; valid choices: {sorted(datasets)}"
        )
    base = {k: v for k, v in params.items() if k != "datasets"}
    return _merge(base, datasets[dataset] or {})


def dataset_dir(dataset: str, stage: str | None = None) -> Path:
    d = Path("data") / dataset
    return d / stage if stage else d
