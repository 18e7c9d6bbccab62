"""The schema of ``params.yaml``: one frozen dataclass per section, one checker, no defaults.

``params.yaml`` is the only home of hyperparameter values. Every field here is required (none has a
default): a section that misses a key, or holds a key the schema does not know, raises a
``ValueError`` naming the valid keys. Types come from the annotations and are checked by
:func:`parse_section` (``int`` rejects ``bool`` and ``1.5``; ``float`` accepts ints; ``X | None``
accepts ``null``; ``Literal[...]`` lists its choices; ``list[T]`` checks every item). A section may
add value checks in a ``check(self)`` method.

Adding a key: add a field to the section's dataclass below and the value to ``params.yaml``.
Adding a section: write a dataclass decorated with ``@section("name")``.

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

SECTIONS: dict[str, type] = {}
DATASET_KEYS = ("model_dep",)  # keys of a dataset entry besides section overrides
_TOP = ("seed", "datasets")  # top-level keys that are not sections


def section(name: str):
    """Register a dataclass as the schema of the ``params.yaml`` section ``name``."""

    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                raise TypeError(f"{name}.{f.name} has a default in code; put it in params.yaml")
        SECTIONS[name] = cls
        return cls

    return wrap


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


def _positive(where: str, **values: Any) -> None:
    for n, v in values.items():
        if v is not None and not v > 0:
            raise ValueError(f"{where}.{n}={v!r} should be > 0")


# -- the sections (one dataclass each, fields in params.yaml's order; add keys here) -------------


@section("prepare")
class Prepare:
    source: Literal["packages", "folder", "planted"]
    folder: str | None
    classes: list[str] | None

    def check(self):
        if self.source == "folder" and not self.folder:
            raise ValueError("prepare.source='folder' needs prepare.folder (a path)")


@section("planted")
class Planted:
    seed: int
    image_size: int
    n_classes: int
    radius: list[float]
    p_distractor: float
    noise: float
    background_contrast: float
    n_train: int
    n_val: int
    n_test: int

    def check(self):
        if len(self.radius) != 2:
            raise ValueError(f"planted.radius={self.radius!r} should be [min, max]")
        _positive("planted", image_size=self.image_size, n_classes=self.n_classes,
                  n_test=self.n_test)


@section("train")
class Train:
    model: str
    model_kwargs: dict
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    label_smoothing: float
    augment: bool
    seed: int
    threads: int | None

    def check(self):
        _positive("train", epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                  threads=self.threads)


@section("recovery")
class Recovery:
    methods: list[str]
    sub_concepts: bool
    baseline: bool
    baseline_seeds: int
    tolerance: int
    iou_threshold: float
    found_iou: float
    found_fraction: float
    batch_size: int
    seed: int


@section("extract")
class Extract:
    model: str
    weights: str
    model_kwargs: dict
    image_size: int
    layer: str | int | None
    batch_size: int
    shard_size: int
    dtype: Literal["float32", "float16", "bfloat16"]
    workers: int
    prefetch: int
    device: str
    autocast: Literal["bfloat16", "float16"] | None
    checkpoint: str | None
    use_label_as_target: bool
    image_root: str | None
    threads: int | None


@section("concepts")
class Concepts:
    seed: int
    n_concepts: int
    n_sub_concepts: int
    n_components: int | None
    n_init: int
    max_iter: int
    tol: float
    batch_size: int
    group: int
    methods: list[Literal["cgap", "cpha"]]

    def check(self):
        _positive("concepts", n_concepts=self.n_concepts, n_init=self.n_init,
                  max_iter=self.max_iter, batch_size=self.batch_size, group=self.group)
        if self.n_sub_concepts < 0:
            raise ValueError(f"concepts.n_sub_concepts={self.n_sub_concepts} should be >= 0")
        if not self.methods:
            raise ValueError("concepts.methods=[] should name at least one of ['cgap', 'cpha']")


@section("compare")
class Compare:
    seed: int
    n_images: int | None
    n_concepts: int
    sweep: list[int]
    algorithms: list[Literal["kmeans", "agglomerative", "birch", "gmm"]]
    n_init: int
    batch_size: int

    def check(self):
        if "kmeans" not in self.algorithms:
            raise ValueError(f"compare.algorithms={self.algorithms!r} must include 'kmeans' "
                             "(the jax implementation the others are compared with)")
        if any(n < 2 for n in self.sweep) or not self.sweep:
            raise ValueError(f"compare.sweep={self.sweep!r} should be a non-empty list of "
                             "ints >= 2")
        _positive("compare", n_images=self.n_images, n_concepts=self.n_concepts,
                  n_init=self.n_init, batch_size=self.batch_size)


@section("importance")
class Importance:
    target: Literal["pred", "label"]
    head: Literal["auto", "closed_form", "torch"]
    batch_size: int
    min_p: float | None
    methods: list[Literal["cgap", "cpha"]]


@section("figures")
class Figures:
    max_images: int
    dpi: int

    def check(self):
        if self.max_images < 0:
            raise ValueError(f"figures.max_images={self.max_images} should be >= 0")
        _positive("figures", dpi=self.dpi)


@section("crops")
class Crops:
    n_crops: int
    crop_fraction: float
    batch_size: int


@section("ood")
class OOD:
    bins: int
    tpr: float
    min_images: int

    def check(self):
        _positive("ood", bins=self.bins, min_images=self.min_images)
        if not 0.0 < self.tpr <= 1.0:
            raise ValueError(f"ood.tpr={self.tpr} should be in (0, 1]")


@section("c2mf")
class C2MF:
    k: list[int]
    methods: list[str]
    labels: Literal["target", "pred", "label"]
    test_fraction: float
    min_images: int
    cap_k: bool
    alpha: float
    max_steps: int
    tol: float
    learning_rate: float
    images_per_batch: int
    code_sweeps: int
    gate_steps: int
    dict_sweeps: int
    init_rows: int
    nmf_max_iter: int
    ig_steps: int
    eval_batch: int
    ablation: bool
    ablation_n: list[int] | None
    craft_source: Literal["crops", "rows"]
    sobol_designs: int
    seed: int | None
    enabled: bool
    atlas_k: int | None
    gate_threshold: float
    alpha_sweep: list[float]
    sweep_k: int

    def check(self):
        _positive("c2mf", atlas_k=self.atlas_k, sweep_k=self.sweep_k,
                  images_per_batch=self.images_per_batch, code_sweeps=self.code_sweeps,
                  gate_steps=self.gate_steps, dict_sweeps=self.dict_sweeps,
                  init_rows=self.init_rows, max_steps=self.max_steps)
        if self.alpha < 0:
            raise ValueError(f"c2mf.alpha={self.alpha} should be >= 0")
        if not 0.0 < self.gate_threshold < 1.0:
            raise ValueError(f"c2mf.gate_threshold={self.gate_threshold} should be in (0, 1)")
        if any(a < 0 for a in self.alpha_sweep):
            raise ValueError(f"c2mf.alpha_sweep={self.alpha_sweep} should hold values >= 0")


@section("naming")
class Naming:
    top: int
    per_image: int
    n_words: int
    clip_model: str | None
    clip_checkpoint: str | None
    clip_scale: float

    def check(self):
        _positive("naming", top=self.top, per_image=self.per_image, n_words=self.n_words,
                  clip_scale=self.clip_scale)
        if (self.clip_model is None) != (self.clip_checkpoint is None):
            raise ValueError("naming.clip_model and naming.clip_checkpoint go together: give both "
                             f"or neither (got {self.clip_model!r}, {self.clip_checkpoint!r})")


@section("atlas")
class Atlas:
    top_images: int
    max_concepts: int
    max_images: int

    def check(self):
        _positive("atlas", top_images=self.top_images, max_concepts=self.max_concepts,
                  max_images=self.max_images)


@section("report")
class Report:
    title: str
