"""Synthetic activation stores (tests and ``benchmarks/scale.py``), written shard by shard, and
the planted rows in memory (:func:`planted_rows`: the C2MF tests and ``benchmarks/c2mf.py``).

Rows of image i of class y are ``relu?((U ⊙ recipe_y) W_true + noise)`` with per-class recipes
of concepts, so a store of any size is generated with memory of one shard. The store has the
layout of :class:`jaxconcepts.store.ActivationStore` (``manifest.json`` + safetensors shards
with ``activations (B, C, H, W)``, ``pred``, ``target``, ``label``, ``index``).
"""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np

from jaxconcepts._safetensors import write as _write

__all__ = ["write_tensors", "write_synthetic_store", "planted_dictionary", "planted_atoms",
           "planted_rows"]



def write_tensors(path, tensors: dict) -> None:
    """Write NumPy arrays as one safetensors file (bfloat16 included, via ``ml_dtypes``): the
    package's one codec, :func:`jaxconcepts._safetensors.write`."""
    _write(path, tensors)


def planted_atoms(k: int, c: int, *, rng, nonnegative: bool = False) -> np.ndarray:
    """``(k, c)`` float64 atoms of unit norm: Gaussian rows (``|·|`` if ``nonnegative``).

    ``rng``: a seed or a ``np.random.Generator`` (drawn from, so the rows drawn after it differ)."""
    W = np.random.default_rng(rng).normal(size=(k, c))
    if nonnegative:
        W = np.abs(W)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W


def planted_rows(W, recipes, n: int, *, rng, noise: float):
    """``n`` planted rows ``A = (U ⊙ recipes[y]) W + noise · N(0, 1)``: ``(A, y, U)``.

    Labels ``y`` are uniform over the ``(Y, k)`` boolean ``recipes``' classes and codes ``U``
    uniform in [0, 1] on each class's atoms, 0 elsewhere. ``rng``: a seed or a
    ``np.random.Generator`` (drawn in that order: labels, codes, noise). Returns float32 ``A``
    ``(n, c)`` and ``U`` ``(n, k)``, int32 ``y``."""
    rng = np.random.default_rng(rng)
    recipes = np.asarray(recipes, bool)
    y = rng.integers(0, recipes.shape[0], n)
    U = rng.uniform(size=(n, recipes.shape[1])) * recipes[y]
    A = U @ W + noise * rng.normal(size=(n, W.shape[1]))
    return A.astype(np.float32), y.astype(np.int32), U.astype(np.float32)


def planted_dictionary(k: int, c: int, n_classes: int, *, seed: int, per_class: int = 3,
                       nonnegative: bool = False):
    """``(W_true (k, c) unit rows, recipes (Y, k) bool)``: each class uses ``per_class`` atoms."""
    rng = np.random.default_rng(seed)
    W = planted_atoms(k, c, rng=rng, nonnegative=nonnegative)
    recipes = np.zeros((n_classes, k), bool)
    for y in range(n_classes):
        recipes[y, rng.choice(k, size=min(per_class, k), replace=False)] = True
    return W.astype(np.float32), recipes


def write_synthetic_store(path, *, n_images: int, channels: int, hw: tuple[int, int] = (8, 8),
                          k: int = 10, n_classes: int = 4, images_per_shard: int = 256,
                          dtype: str = "float16", noise: float = 0.05, nonnegative: bool = False,
                          seed: int = 0, empty_classes: tuple[int, ...] = ()) -> dict:
    """Write a planted store at ``path`` (overwritten); returns its manifest.

    ``empty_classes`` are declared (``n_classes``) but get no images."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    dt = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}[dtype]
    W, recipes = planted_dictionary(k, channels, n_classes, seed=seed, nonnegative=nonnegative)
    used = np.array([y for y in range(n_classes) if y not in set(empty_classes)])
    rng = np.random.default_rng([seed, 1])
    H, Wd = hw
    # noise: a fixed pool of rows rolled by a random offset per shard (drawing fresh Gaussian
    # noise for every entry made writing a 27 GB store CPU-bound at ~10 MB/s on 2 cores)
    pool = noise * np.random.default_rng([seed, 2]).standard_normal(
        (min(8192, n_images * H * Wd) + H * Wd * images_per_shard, channels), dtype=np.float32)
    shards, start = [], 0
    while start < n_images:
        n = min(images_per_shard, n_images - start)
        y = used[rng.integers(0, used.size, n)]
        U = rng.uniform(size=(n, H * Wd, k)).astype(np.float32) * recipes[y][:, None, :]
        off = int(rng.integers(0, pool.shape[0] - n * H * Wd + 1))
        A = U.reshape(n * H * Wd, k) @ W  # 2-D: one BLAS call (a batched @ is ~50x slower)
        A += pool[off:off + n * H * Wd]
        A = A.reshape(n, H * Wd, channels)
        if nonnegative:
            np.maximum(A, 0, out=A)
        act = A.reshape(n, H, Wd, channels).transpose(0, 3, 1, 2).astype(dt)
        name = f"shard-{len(shards):05d}.safetensors"
        ids = np.arange(start, start + n, dtype=np.int32)
        y32 = y.astype(np.int32)
        write_tensors(path / name, {"activations": act, "pred": y32, "target": y32,
                                    "label": y32, "index": ids})
        shards.append({"file": name, "rows": int(n)})
        start += n
    manifest = {"shards": shards, "n_images": int(n_images), "shape": [channels, H, Wd],
                "dtype": dtype, "synthetic": {"k": k, "n_classes": n_classes, "seed": seed,
                                              "noise": noise}}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
