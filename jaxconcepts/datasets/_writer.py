"""Write the generated datasets (planted, objects) to disk and read their ground truth back.

Layout (see :mod:`jaxconcepts.datasets._planted`; the objects dataset has the same): PNGs in
ImageFolder trees — the test split under ``images_dir`` (what the pipeline explains), train/val
under ``prepare_dir/<split>`` — and the ground truth under ``prepare_dir/truth`` (``truth.json``
+ one ``<split>.npz`` per split).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._io import atomic_dir, atomic_path, write_json
from ._objects import ObjectsConfig, generate_object_split, load_sources
from ._planted import (
    PARTS,
    PlantedConfig,
    allowed_distractors,
    class_folder,
    generate_split,
)

__all__ = ["write_planted", "write_objects", "load_truth", "PlantedTruth", "TRUTH_VERSION"]

TRUTH_VERSION = 1


class PlantedTruth(NamedTuple):
    """Ground truth of one split, rows aligned with ``files``.

    part_map int8 (n, H, W) (-1 = background); label int32 (n,); present, defining bool (n, P);
    files: paths relative to the split's root (``<class>/<name>.png``); meta: ``truth.json``.
    """

    part_map: np.ndarray
    label: np.ndarray
    present: np.ndarray
    defining: np.ndarray
    files: list[str]
    meta: dict

    @property
    def part_names(self) -> list[str]:
        return list(self.meta["parts"])

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["classes"])

    def masks(self, i: int) -> np.ndarray:
        """Bool (P, H, W) masks of image ``i``."""
        return self.part_map[i][None] == np.arange(len(self.part_names))[:, None, None]


def _write_split(root: Path, split: str, images, n: int, size: int, n_parts: int, class_names,
                 describe, bar):
    """Save ``n`` images of ``split`` under ``root/<class>/`` as PNG; return the truth arrays and
    per-image records. ``images`` yields objects with image, part_map, label, present, defining;
    ``describe(im)`` gives the dataset's own record fields (appended after the common ones)."""
    from PIL import Image

    part_map = np.empty((n, size, size), np.int8)
    present = np.empty((n, n_parts), bool)
    defining = np.empty((n, n_parts), bool)
    label = np.empty((n,), np.int32)
    records = []
    for i, im in enumerate(images):
        rel = f"{class_folder(im.label, class_names)}/{split}_{i:05d}.png"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im.image).save(path, optimize=False, compress_level=1)
        part_map[i], label[i] = im.part_map, im.label
        present[i], defining[i] = im.present, im.defining
        records.append(
            {
                "file": rel,
                "label": im.label,
                "parts": [int(p) for p in np.flatnonzero(im.present)],
                "defining": [int(p) for p in np.flatnonzero(im.defining)],
                "distractors": [int(p) for p in np.flatnonzero(im.present & ~im.defining)],
                **describe(im),
            }
        )
        bar.update(1)
    arrays = {"part_map": part_map, "label": label, "present": present, "defining": defining}
    return arrays, records


def _write_dataset(images_dir: Path, prepare_dir: Path, meta: dict, splits: dict, size: int,
                   n_parts: int, describe, bar) -> dict:
    """Write the three splits and the truth (each directory replaced atomically).

    ``splits[split] = (images, n)``; fills ``meta["images"]`` and returns ``meta``.
    """
    class_names = meta["classes"]
    with atomic_dir(prepare_dir) as prep_tmp:
        truth_arrays = {}
        for split in ("train", "val"):
            images, n = splits[split]
            arrays, records = _write_split(
                prep_tmp / split, split, images, n, size, n_parts, class_names, describe, bar
            )
            truth_arrays[split], meta["images"][split] = arrays, records
        with atomic_dir(images_dir) as img_tmp:
            images, n = splits["test"]
            arrays, records = _write_split(
                img_tmp, "test", images, n, size, n_parts, class_names, describe, bar
            )
            truth_arrays["test"], meta["images"]["test"] = arrays, records
            truth = prep_tmp / "truth"
            truth.mkdir()
            for split, arrays in truth_arrays.items():
                with atomic_path(truth / f"{split}.npz") as tmp:
                    with open(tmp, "wb") as f:
                        np.savez_compressed(f, **arrays)
            write_json(truth / "truth.json", meta)
    return meta


def _planted_record(im) -> dict:
    return {
        "geometry": [
            {"part": pl.part, "cy": round(pl.cy, 3), "cx": round(pl.cx, 3),
             "radius": round(pl.radius, 3), "angle": round(pl.angle, 4)}
            for pl in im.placements
        ],
    }


def write_planted(
    images_dir: str | os.PathLike,
    prepare_dir: str | os.PathLike,
    config: PlantedConfig,
    *,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    progress: bool = True,
) -> dict:
    """Generate all three splits and write them (each directory replaced atomically).

    Returns the ``truth.json`` dict. The test split goes to ``images_dir/<class>/test_*.png``;
    train/val to ``prepare_dir/{train,val}/<class>/*.png``; ground truth to
    ``prepare_dir/truth/``.

    Raises:
      ValueError: a split size is negative or ``n_train``/``n_test`` is smaller than the number of
        classes (every class must appear).
    """
    from tqdm.auto import tqdm

    sizes = {"train": n_train, "val": n_val, "test": n_test}
    for name, n in sizes.items():
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n_{name}={n!r} should be an int >= 0")
    for name in ("train", "test"):
        if sizes[name] < config.n_classes:
            raise ValueError(
                f"n_{name}={sizes[name]} should be >= n_classes={config.n_classes}"
            )
    images_dir, prepare_dir = Path(images_dir), Path(prepare_dir)
    meta = {
        "version": TRUTH_VERSION,
        "seed": int(seed),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "parts": list(PARTS),
        "classes": list(config.class_names),
        "class_folders": [class_folder(c, config.class_names) for c in range(config.n_classes)],
        "recipes": [list(r) for r in config.recipes],
        "allowed_distractors": [list(a) for a in allowed_distractors(config.recipes)],
        "roots": {"train": "prepare/train", "val": "prepare/val", "test": "images"},
        "sizes": sizes,
        "images": {},
    }
    splits = {s: (generate_split(config, s, n, seed=seed), n) for s, n in sizes.items()}
    total = sum(sizes.values())
    with tqdm(total=total, desc="planted images", unit="img", disable=not progress) as bar:
        return _write_dataset(images_dir, prepare_dir, meta, splits, config.image_size,
                              len(PARTS), _planted_record, bar)


def _objects_record(im) -> dict:
    return {
        "box": list(im.box),
        "source": im.source,
        "flip": im.flip,
        "scale": round(im.scale, 4),
        "paste": list(im.paste),
        "jitter": {"gain": round(im.gain, 4), "bias": round(im.bias, 4)},
        "background": im.background,
    }


def write_objects(
    images_dir: str | os.PathLike,
    prepare_dir: str | os.PathLike,
    config: ObjectsConfig,
    *,
    seed: int,
    progress: bool = True,
) -> dict:
    """Generate the objects dataset's three splits and write them (directories replaced atomically).

    ``config.n_train``/``n_val``/``n_test`` images per class; the test split goes to
    ``images_dir/<class>/test_*.png``, train/val to ``prepare_dir/{train,val}/<class>/*.png``,
    the ground truth to ``prepare_dir/truth/`` (``truth.json`` + ``<split>.npz``, read by
    :func:`load_truth`). The parts are the objects (P = K): ``recipes[c] = [c]``.

    Returns the ``truth.json`` dict: planted's fields plus ``objects`` (per class: wnids,
    source photo, polygons' box in it, description), ``backgrounds`` and ``left_out`` (classes
    whose photo is not installed).

    Raises:
      ValueError: see :class:`ObjectsConfig` and :func:`load_sources` (a polygon outside its
        photo; fewer than 2 classes installed).
    """
    from tqdm.auto import tqdm

    sources = load_sources(config)
    names = sources.class_names
    k = len(names)
    sizes = {s: config.n_per_class(s) * k for s in ("train", "val", "test")}
    images_dir, prepare_dir = Path(images_dir), Path(prepare_dir)
    meta = {
        "version": TRUTH_VERSION,
        "dataset": "objects",
        "seed": int(seed),
        "config": {k_: list(v) if isinstance(v, tuple) else v
                   for k_, v in asdict(config).items()},
        "parts": list(names),
        "classes": list(names),
        "class_folders": [class_folder(c, names) for c in range(k)],
        "recipes": [[c] for c in range(k)],
        "allowed_distractors": [[] for _ in range(k)],
        "objects": [
            {"class": c.spec.name, "wnids": list(c.spec.wnids), "source": c.spec.source,
             "box": list(c.box), "description": c.spec.description}
            for c in sources.cutouts
        ],
        "backgrounds": [{"name": b.name, "source": b.source,
                         "box": list(b.box) if b.box is not None else None}
                        for b, _ in sources.backgrounds],
        "left_out": list(sources.left_out),
        "roots": {"train": "prepare/train", "val": "prepare/val", "test": "images"},
        "sizes": sizes,
        "images": {},
    }
    splits = {s: (generate_object_split(config, s, seed=seed, sources=sources), n)
              for s, n in sizes.items()}
    with tqdm(total=sum(sizes.values()), desc="objects images", unit="img",
              disable=not progress) as bar:
        return _write_dataset(images_dir, prepare_dir, meta, splits, config.image_size, k,
                              _objects_record, bar)


def load_truth(truth_dir: str | os.PathLike, split: str = "test") -> PlantedTruth:
    """Read the ground truth of ``split`` written by :func:`write_planted`.

    Raises:
      FileNotFoundError: ``truth_dir`` lacks ``truth.json`` or ``<split>.npz``.
      ValueError: ``split`` unknown, or the arrays and ``truth.json`` disagree.
    """
    truth_dir = Path(truth_dir)
    meta_path, arr_path = truth_dir / "truth.json", truth_dir / f"{split}.npz"
    if not meta_path.is_file():
        raise FileNotFoundError(f"truth_dir={str(truth_dir)!r} has no truth.json (run prepare)")
    meta = json.loads(meta_path.read_text())
    if split not in meta["images"]:
        raise ValueError(f"split={split!r} is not one of {sorted(meta['images'])}")
    if not arr_path.is_file():
        raise FileNotFoundError(f"truth_dir={str(truth_dir)!r} has no {split}.npz")
    with np.load(arr_path) as z:
        arrays = {k: z[k] for k in ("part_map", "label", "present", "defining")}
    records = meta["images"][split]
    if len(records) != arrays["label"].shape[0]:
        raise ValueError(
            f"{arr_path} has {arrays['label'].shape[0]} rows but truth.json lists {len(records)}"
        )
    return PlantedTruth(files=[r["file"] for r in records], meta=meta, **arrays)
