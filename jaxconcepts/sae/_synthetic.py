"""Ground truth for dictionary methods, SynthSAEBench-style: rows built from known atoms.

``n_features`` atoms ``W_true`` ``(F, c)``, unit norm, random Gaussian directions, with usually
``F > c`` (superposition). A row is

    a = Σ_j u_j w_j + ε,   u_j = f_j · m_j,   ε ~ N(0, noise² I_c),

with ``f_j ∈ {0, 1}`` whether feature j fires and ``m_j > 0`` its magnitude:

- **Zipfian firing**: feature j (0-based) fires with probability ``p_j ∝ (j + 1)^(−zipf)``,
  scaled so that ``Σ_j p_j = mean_active`` (at most 1 each);
- **hierarchy**: a share ``hierarchy`` of the features (taken from the rarer half) gets a parent
  among the more frequent features; a child fires only when its parent does (its ``p_j`` is then
  its probability given the parent's firing, ``min(1, p_j / p_parent)``, so its marginal rate is
  still ``p_j``);
- **magnitudes** ``m_j = max(0, 1 + magnitude_std · N(0, 1))``.

**Classes** (for the class-conditional methods, C2MF, CRAFT, the per-class PCA; optional,
``n_classes``): the top-level features (no parent) are dealt round-robin into ``n_classes``
groups in index order (feature j's group is its rank among the top-level features modulo
``n_classes``, so every group holds frequent and rare features); a child joins its parent's group
(:func:`feature_groups`). A row's class is the group with the largest code mass
``Σ_{j ∈ group} u_j`` — its strongest top-level feature group, children counting for their
parent's; ties, and the rows where no feature fires, go to the smallest class
(:func:`synthetic_classes`).

:func:`synthetic_features` returns rows, atoms, codes (and classes) in memory;
:func:`write_feature_store` writes rows of the same model as an activation store (``(B, c, H, W)``
images of ``H·W`` consecutive rows; an image's class is the group with the largest code mass over
its rows, so with ``hw=(1, 1)`` every row has its own class) for the streamed fits, plus
``truth.npz`` (atoms, probabilities, parents, groups); :func:`load_feature_store` reads a store's
rows back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxconcepts.streaming._synthetic import write_tensors

__all__ = ["SynthFeatures", "feature_groups", "feature_model", "load_feature_store",
           "synthetic_classes", "synthetic_features", "write_feature_store"]


class SynthFeatures(NamedTuple):
    """``A (n, c)`` rows; ``W (F, c)`` true atoms; ``U (n, F)`` true codes; ``p (F,)`` marginal
    firing probabilities; ``parent (F,)`` parent feature (−1: none); ``y (n,)`` each row's class
    (module docstring; None without ``n_classes``)."""

    A: np.ndarray
    W: np.ndarray
    U: np.ndarray
    p: np.ndarray
    parent: np.ndarray
    y: np.ndarray | None = None


def feature_model(*, dim: int, n_features: int, seed: int, zipf: float = 1.0,
                  mean_active: float = 4.0, hierarchy: float = 0.0):
    """``(W (F, c), p (F,), parent (F,))`` of the module docstring (no rows drawn)."""
    if dim < 1 or n_features < 1:
        raise ValueError(f"dim={dim} and n_features={n_features} should be >= 1")
    if not 0 < mean_active <= n_features:
        raise ValueError(f"mean_active={mean_active} should be in (0, n_features={n_features}]")
    if not 0 <= hierarchy <= 0.5:
        raise ValueError(f"hierarchy={hierarchy} should be in [0, 0.5]")
    rng = np.random.default_rng([seed, 0])
    W = rng.standard_normal((n_features, dim))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    p = (np.arange(1, n_features + 1, dtype=np.float64)) ** (-zipf)
    p = np.minimum(p * mean_active / p.sum(), 1.0)
    parent = np.full(n_features, -1, np.int64)
    n_child = round(hierarchy * n_features)
    if n_child:
        half = n_features // 2
        children = rng.choice(np.arange(half, n_features), size=n_child, replace=False)
        parent[children] = rng.integers(0, half, size=n_child)
    return W.astype(np.float32), p, parent


def feature_groups(parent, n_classes: int) -> np.ndarray:
    """``(F,)`` group (class) of each feature: top-level features round-robin, children with
    their parent (module docstring)."""
    parent = np.asarray(parent)
    if not (isinstance(n_classes, (int, np.integer)) and n_classes >= 1):
        raise ValueError(f"n_classes={n_classes!r} should be an int >= 1")
    top = np.flatnonzero(parent < 0)
    if top.size < n_classes:
        raise ValueError(f"n_classes={n_classes} should be <= the {top.size} top-level features "
                         "(one group each at least)")
    groups = np.empty(parent.shape[0], np.int64)
    groups[top] = np.arange(top.size) % n_classes
    kids = np.flatnonzero(parent >= 0)
    groups[kids] = groups[parent[kids]]
    return groups


def synthetic_classes(U, groups, n_classes: int) -> np.ndarray:
    """``(n,)`` int32 class of each row of true codes ``U (n, F)``: the group with the largest
    code mass (ties and silent rows: the smallest class)."""
    U, groups = np.asarray(U), np.asarray(groups)
    if U.ndim != 2 or groups.shape != (U.shape[1],):
        raise ValueError(f"U should be (n, F) and groups (F,), got {U.shape} and {groups.shape}")
    mass = np.zeros((U.shape[0], n_classes), np.float64)
    for g in range(n_classes):
        mass[:, g] = U[:, groups == g].sum(1)
    return np.argmax(mass, axis=1).astype(np.int32)


def _draw(rng, n, W, p, parent, magnitude_std, noise):
    F = W.shape[0]
    cond = np.where(parent >= 0, np.minimum(1.0, p / p[np.maximum(parent, 0)]), p)
    fire = rng.random((n, F)) < cond
    kids = np.flatnonzero(parent >= 0)
    fire[:, kids] &= fire[:, parent[kids]]
    mag = np.maximum(0.0, 1.0 + magnitude_std * rng.standard_normal((n, F)))
    U = (fire * mag).astype(np.float32)
    A = U @ W + noise * rng.standard_normal((n, W.shape[1])).astype(np.float32)
    return A.astype(np.float32), U


def synthetic_features(n_rows: int, *, dim: int, n_features: int, seed: int = 0,
                       zipf: float = 1.0, mean_active: float = 4.0, hierarchy: float = 0.0,
                       magnitude_std: float = 0.25, noise: float = 0.05,
                       n_classes: int | None = None) -> SynthFeatures:
    """Draw ``n_rows`` rows of the model of the module docstring (deterministic in ``seed``);
    with ``n_classes``, each row's class too (the rows do not depend on it)."""
    if n_rows < 1:
        raise ValueError(f"n_rows={n_rows} should be >= 1")
    W, p, parent = feature_model(dim=dim, n_features=n_features, seed=seed, zipf=zipf,
                                 mean_active=mean_active, hierarchy=hierarchy)
    groups = None if n_classes is None else feature_groups(parent, n_classes)
    A, U = _draw(np.random.default_rng([seed, 1]), n_rows, W, p, parent, magnitude_std, noise)
    y = None if groups is None else synthetic_classes(U, groups, n_classes)
    return SynthFeatures(A, W, U, p, parent, y)


def write_feature_store(path, *, n_images: int, hw: tuple[int, int] = (4, 4), dim: int,
                        n_features: int, seed: int = 0, images_per_shard: int = 256,
                        dtype: str = "float32", n_classes: int = 1, **model) -> dict:
    """Write ``n_images · H · W`` rows of :func:`synthetic_features`'s model as an activation
    store at ``path``, shard by shard, and ``truth.npz``; returns the manifest.

    Each image's class (its ``pred``, ``target`` and ``label``) is the group with the largest
    code mass over its rows (module docstring; ``n_classes=1``: class 0 for every image).
    ``model``: ``zipf``,
    ``mean_active``, ``hierarchy``, ``magnitude_std``, ``noise``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype={dtype!r}; valid choices: ['float16', 'float32']")
    dt = {"float16": np.float16, "float32": np.float32}[dtype]
    gen = {k: model.pop(k) for k in ("magnitude_std", "noise") if k in model}
    W, p, parent = feature_model(dim=dim, n_features=n_features, seed=seed, **model)
    groups = feature_groups(parent, n_classes)
    rng = np.random.default_rng([seed, 1])
    H, Wd = hw
    shards, start = [], 0
    while start < n_images:
        n = min(images_per_shard, n_images - start)
        A, U = _draw(rng, n * H * Wd, W, p, parent, gen.get("magnitude_std", 0.25),
                     gen.get("noise", 0.05))
        act = A.reshape(n, H, Wd, dim).transpose(0, 3, 1, 2).astype(dt)
        img_codes = U.reshape(n, H * Wd, -1).sum(1)
        cls = synthetic_classes(img_codes, groups, n_classes)
        name = f"shard-{len(shards):05d}.safetensors"
        write_tensors(path / name, {"activations": act, "pred": cls, "target": cls,
                                    "label": cls,
                                    "index": np.arange(start, start + n, dtype=np.int32)})
        shards.append({"file": name, "rows": int(n)})
        start += n
    np.savez(path / "truth.npz", W=W, p=p, parent=parent, groups=groups)
    manifest = {"shards": shards, "n_images": int(n_images), "shape": [dim, H, Wd],
                "dtype": dtype, "synthetic": {"n_features": n_features, "seed": seed,
                                              "n_classes": n_classes, **model, **gen}}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def load_feature_store(path, *, images_per_batch: int = 256) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
    """``(A (n, c), y (n,), W (F, c))``: a :func:`write_feature_store` store's rows in manifest
    order (row-major within an image), each row's class (its image's) and the true atoms."""
    from jaxconcepts.streaming import RowsView

    rows = RowsView(path, images_per_batch=images_per_batch, prefetch=0)
    A, y = [], []
    for b in rows:
        keep = np.repeat(b.valid, rows.rows_per_image)
        A.append(b.A.reshape(-1, rows.channels)[keep])
        y.append(np.repeat(b.y, rows.rows_per_image)[keep])
    with np.load(Path(path) / "truth.npz") as z:
        W = z["W"]
    return np.concatenate(A), np.concatenate(y).astype(np.int32), W
