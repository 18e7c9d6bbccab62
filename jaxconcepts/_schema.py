"""One typed dataclass per ``params.yaml`` section (registered in :data:`SECTIONS` by
:func:`section`; :mod:`jaxconcepts._params` checks ``params.yaml`` against them).

No field has a default: values live only in ``params.yaml``. To add a key, add a field here and its
value to ``params.yaml``; a ``check`` method validates values beyond their types.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

SECTIONS: dict[str, type] = {}


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


def _positive(where: str, **values: Any) -> None:
    for n, v in values.items():
        if v is not None and not v > 0:
            raise ValueError(f"{where}.{n}={v!r} should be > 0")


# -- the sections (one dataclass each, fields in params.yaml's order; add keys here) -------------


@section("prepare")
class Prepare:
    source: Literal["packages", "folder", "planted", "objects"]
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


@section("objects")
class Objects:
    seed: int
    image_size: int
    classes: list[str] | None
    scale: list[float]
    n_test: int

    def check(self):
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"objects.scale={self.scale!r} should be [min, max] in (0, 1]")
        _positive("objects", image_size=self.image_size, n_test=self.n_test)


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
    mask_size: int | None

    def check(self):
        _positive("recovery", mask_size=self.mask_size, batch_size=self.batch_size)


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
    resize: Literal["torch", "pil"]
    jpeg_draft: float | None
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
    n_buckets: int | None
    methods: list[Literal["cgap", "cpha"]]
    enabled: bool
    cpu_devices: int | Literal["auto"] | None

    def check(self):
        if self.n_buckets is not None and self.n_buckets < 1:
            raise ValueError(f"concepts.n_buckets={self.n_buckets} should be >= 1 or null")
        if isinstance(self.cpu_devices, int) and self.cpu_devices < 1:
            raise ValueError(f"concepts.cpu_devices={self.cpu_devices} should be >= 1, 'auto' "
                             "or null")
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
    workers: int
    enabled: bool

    def check(self):
        _positive("compare", workers=self.workers)
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
    enabled: bool


@section("figures")
class Figures:
    max_images: int
    pick: Literal["first", "spread"]
    dpi: int
    workers: int
    enabled: bool

    def check(self):
        if self.max_images < 0:
            raise ValueError(f"figures.max_images={self.max_images} should be >= 0")
        _positive("figures", dpi=self.dpi, workers=self.workers)


@section("crops")
class Crops:
    n_crops: int
    crop_fraction: float
    batch_size: int
    enabled: bool


@section("ood")
class OOD:
    bins: int
    tpr: float
    min_images: int
    keep_fraction: float
    enabled: bool

    def check(self):
        _positive("ood", bins=self.bins, min_images=self.min_images)
        if not 0.0 < self.tpr <= 1.0:
            raise ValueError(f"ood.tpr={self.tpr} should be in (0, 1]")
        if not 0.0 < self.keep_fraction <= 1.0:
            raise ValueError(f"ood.keep_fraction={self.keep_fraction} should be in (0, 1]")


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
    stat_rounds: int
    init_steps: int
    extrapolate: bool
    update_shards: int | None
    nmf_max_iter: int
    nmf_code_sweeps: int
    nmf_update_shards: int | None
    nmf_forget: float
    sae_active: int
    sae_epochs: int
    sae_learning_rate: float
    sae_sparsity: float
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
    controls: list[int]
    split_seeds: list[int]
    cache_mb: int

    def check(self):
        if self.cache_mb < 0:
            raise ValueError(f"c2mf.cache_mb={self.cache_mb} should be >= 0 (0: stream every pass)")
        _positive("c2mf", atlas_k=self.atlas_k, sweep_k=self.sweep_k,
                  images_per_batch=self.images_per_batch, code_sweeps=self.code_sweeps,
                  gate_steps=self.gate_steps, dict_sweeps=self.dict_sweeps,
                  init_rows=self.init_rows, max_steps=self.max_steps,
                  stat_rounds=self.stat_rounds, update_shards=self.update_shards,
                  nmf_code_sweeps=self.nmf_code_sweeps, nmf_update_shards=self.nmf_update_shards,
                  sae_active=self.sae_active, sae_epochs=self.sae_epochs,
                  sae_learning_rate=self.sae_learning_rate)
        if not self.sae_sparsity >= 0:
            raise ValueError(f"c2mf.sae_sparsity={self.sae_sparsity} should be >= 0")
        if self.init_steps < 0:
            raise ValueError(f"c2mf.init_steps={self.init_steps} should be >= 0 (0: no warm start)")
        if self.nmf_forget < 0:
            raise ValueError(f"c2mf.nmf_forget={self.nmf_forget} should be >= 0")
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


@section("explorer")
class Explorer:
    chunk_size: int
    thumb: int
    workers: int
    enabled: bool

    def check(self):
        _positive("explorer", chunk_size=self.chunk_size, workers=self.workers)
        if self.thumb < 16:
            raise ValueError(f"explorer.thumb={self.thumb} should be >= 16 (pixels)")


@section("report")
class Report:
    title: str
