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

:func:`synthetic_features` returns rows, atoms and codes in memory; :func:`write_feature_store`
writes the same rows as an activation store (``(B, c, H, W)`` images of ``H·W`` consecutive rows;
one class) for the streamed fits, plus ``truth.npz`` (atoms, probabilities, parents).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxconcepts.streaming._synthetic import write_tensors

__all__ = ["SynthFeatures", "feature_model", "synthetic_features", "write_feature_store"]


class SynthFeatures(NamedTuple):
    """``A (n, c)`` rows; ``W (F, c)`` true atoms; ``U (n, F)`` true codes; ``p (F,)`` marginal
    firing probabilities; ``parent (F,)`` parent feature (−1: none)."""

    A: np.ndarray
    W: np.ndarray
    U: np.ndarray
    p: np.ndarray
    parent: np.ndarray


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
                       magnitude_std: float = 0.25, noise: float = 0.05) -> SynthFeatures:
    """Draw ``n_rows`` rows of the model of the module docstring (deterministic in ``seed``)."""
    if n_rows < 1:
        raise ValueError(f"n_rows={n_rows} should be >= 1")
    W, p, parent = feature_model(dim=dim, n_features=n_features, seed=seed, zipf=zipf,
                                 mean_active=mean_active, hierarchy=hierarchy)
    A, U = _draw(np.random.default_rng([seed, 1]), n_rows, W, p, parent, magnitude_std, noise)
    return SynthFeatures(A, W, U, p, parent)


def write_feature_store(path, *, n_images: int, hw: tuple[int, int] = (4, 4), dim: int,
                        n_features: int, seed: int = 0, images_per_shard: int = 256,
                        dtype: str = "float32", **model) -> dict:
    """Write ``n_images · H · W`` rows of :func:`synthetic_features`'s model as an activation
    store at ``path`` (class 0 for every image), shard by shard, and ``truth.npz``; returns the
    manifest. ``model``: ``zipf``, ``mean_active``, ``hierarchy``, ``magnitude_std``, ``noise``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    dt = {"float16": np.float16, "float32": np.float32}[dtype]
    gen = {k: model.pop(k) for k in ("magnitude_std", "noise") if k in model}
    W, p, parent = feature_model(dim=dim, n_features=n_features, seed=seed, **model)
    rng = np.random.default_rng([seed, 1])
    H, Wd = hw
    shards, start = [], 0
    while start < n_images:
        n = min(images_per_shard, n_images - start)
        A, _ = _draw(rng, n * H * Wd, W, p, parent, gen.get("magnitude_std", 0.25),
                     gen.get("noise", 0.05))
        act = A.reshape(n, H, Wd, dim).transpose(0, 3, 1, 2).astype(dt)
        name = f"shard-{len(shards):05d}.safetensors"
        zeros = np.zeros(n, np.int32)
        write_tensors(path / name, {"activations": act, "pred": zeros, "target": zeros,
                                    "label": zeros,
                                    "index": np.arange(start, start + n, dtype=np.int32)})
        shards.append({"file": name, "rows": int(n)})
        start += n
    np.savez(path / "truth.npz", W=W, p=p, parent=parent)
    manifest = {"shards": shards, "n_images": int(n_images), "shape": [dim, H, Wd],
                "dtype": dtype, "synthetic": {"n_features": n_features, "seed": seed, **model,
                                              **gen}}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
