"""The schema of ``params.yaml``: one frozen dataclass per section, one checker, no defaults.

``params.yaml`` is the only home of hyperparameter values. Every field here is required (none has a
default): a section that misses a key, or holds a key the schema does not know, raises a
``ValueError`` naming the valid keys. Types come from the annotations and are checked by
:func:`parse_section` (``int`` rejects ``bool`` and ``1.5``; ``float`` accepts ints; ``X | None``
accepts ``null``; ``Literal[...]`` lists its choices; ``list[T]`` checks every item). A section may
add value checks in a ``check(self)`` method.

Adding a key: add a field to the section's dataclass below and the value to ``params.yaml``.
Adding a section: write a dataclass decorated with ``@section("name")``. The dataclasses and
their registry (``SECTIONS``) live in :mod:`jaxconcepts._schema`; the checker here.

A dataset entry (``datasets.<name>`` in ``params.yaml``) holds ``model_dep`` (the path the
``extract`` and ``crops`` stages of that dataset depend on in ``dvc.yaml``) and, optionally, partial
sections that override the top-level ones for that dataset only.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

# the sections, one dataclass each, registered in SECTIONS when _schema is imported
from jaxconcepts._schema import SECTIONS, section

__all__ = [
    "SECTIONS",
    "DATASET_KEYS",
    "section",
    "parse_section",
    "load_params",
    "dataset_params",
    "check_params",
    "check_value",
]

DATASET_KEYS = ("model_dep",)  # keys of a dataset entry besides section overrides
_TOP = ("seed", "datasets")  # top-level keys that are not sections


# -- the checker ---------------------------------------------------------------------------------


def check_value(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against the annotation ``tp`` (and converted: int -> float, tuples ->
    lists); raises ValueError naming ``where``, what was expected and what came."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return check_value(value, arg, where)
            except ValueError:
                continue
        raise ValueError(f"{where}={value!r} should be {_name(tp)}")
    if tp is type(None):
        if value is None:
            return None
    elif origin is Literal:
        choices = typing.get_args(tp)
        if value in choices and not isinstance(value, bool):
            return value
        raise ValueError(f"{where}={value!r}; valid choices: {list(choices)}")
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, (list, tuple)):
            (item,) = typing.get_args(tp)
            return [check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict or tp is dict:
        if isinstance(value, Mapping):
            return dict(value)
    else:  # pragma: no cover - a schema bug, not a params error
        raise TypeError(f"{where}: unsupported annotation {tp!r} in jaxconcepts._params")
    raise ValueError(f"{where}={value!r} should be {_name(tp)}, got {type(value).__name__}")


def _name(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is Literal:
        return "one of " + repr(list(typing.get_args(tp)))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def parse_section(name: str, values: Mapping[str, Any] | None):
    """The typed, checked section ``name`` of ``values`` (one section's mapping).

    Raises:
      ValueError: unknown section, missing or unknown keys (naming the valid keys), a value of the
        wrong type, or a failed ``check``.
    """
    if name not in SECTIONS:
        raise ValueError(f"unknown params section {name!r}; valid sections: {sorted(SECTIONS)}")
    if not isinstance(values, Mapping):
        raise ValueError(f"params section {name!r} should be a mapping, got {values!r}")
    cls = SECTIONS[name]
    hints = typing.get_type_hints(cls, include_extras=False)
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(fields))
    missing = sorted(set(fields) - set(values))
    if unknown or missing:
        raise ValueError(
            f"params section {name!r}: "
            + "; ".join(
                s for s in (f"unknown keys {unknown}" if unknown else "",
                            f"missing keys {missing}" if missing else "") if s
            )
            + f"; valid keys: {fields}"
        )
    obj = cls(**{k: check_value(values[k], hints[k], f"{name}.{k}") for k in fields})
    if hasattr(obj, "check"):
        obj.check()
    return obj


# -- the file ------------------------------------------------------------------------------------


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The raw mapping of a params file; its top-level keys are checked against the schema."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file {str(path)!r} not found (run from the repo root)")
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"params file {str(path)!r} should hold a mapping")
    unknown = sorted(set(params) - set(SECTIONS) - set(_TOP))
    if unknown:
        raise ValueError(f"params file {str(path)!r}: unknown top-level keys {unknown}; "
                         f"valid keys: {sorted(set(SECTIONS) | set(_TOP))}")
    return params


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def dataset_params(params: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The params of one dataset: top-level sections overridden by ``datasets.<dataset>``.

    Raises:
      ValueError: ``dataset`` is not in ``datasets`` (valid names listed), or its entry has a key
        that is neither a section nor one of ``DATASET_KEYS``.
    """
    datasets = params.get("datasets") or {}
    if dataset not in datasets:
        raise ValueError(
            f"dataset={dataset!r} is not in params.yaml datasets; valid choices: {sorted(datasets)}"
        )
    entry = datasets[dataset] or {}
    unknown = sorted(set(entry) - set(SECTIONS) - set(DATASET_KEYS))
    if unknown:
        raise ValueError(f"datasets.{dataset}: unknown keys {unknown}; valid keys: "
                         f"{sorted(DATASET_KEYS)} or a section {sorted(SECTIONS)}")
    base = {k: v for k, v in params.items() if k != "datasets"}
    overrides = {k: v for k, v in entry.items() if k in SECTIONS}
    out = _merge(base, overrides)
    out.update({k: entry[k] for k in DATASET_KEYS if k in entry})
    return out


def check_params(params: Mapping[str, Any]) -> None:
    """Check every section of every dataset (what ``stage_config`` checks one section at a time)."""
    check_value(params.get("seed"), int, "seed")
    for ds in params.get("datasets") or {}:
        merged = dataset_params(params, ds)
        check_value(merged.get("model_dep"), str, f"datasets.{ds}.model_dep")
        for name in SECTIONS:
            if name not in merged:
                raise ValueError(f"params: missing section {name!r} (dataset {ds!r})")
            parse_section(name, merged[name])
        _check_crops_readers(ds, merged)


def _check_crops_readers(ds: str, merged: Mapping[str, Any]) -> None:
    """A dataset whose crops stage is off must not run a stage that reads the crops."""
    if merged["crops"]["enabled"]:
        return
    c2mf = merged["c2mf"]
    readers = (["ood"] if merged["ood"]["enabled"] else []) + (
        ["c2mf (CRAFT on crops)"] if c2mf["enabled"] and "craft" in c2mf["methods"]
        and c2mf["craft_source"] == "crops" else [])
    if readers:
        raise ValueError(
            f"datasets.{ds}: crops.enabled is false but {' and '.join(readers)} read the crops; "
            "set crops.enabled: true, or turn those off (ood.enabled: false; c2mf.enabled: false "
            "or c2mf.craft_source: rows)")
