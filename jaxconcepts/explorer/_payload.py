"""What the concept explorer shows, as plain JSON-ready values: pure functions on arrays.

The page draws every heatmap itself from the feature map's own ``h × w`` grid: a concept map is
the sum of the concept's channels (Lambert et al. §3.4), min-max normalised with the min and max
of its bilinear upsampling to the model's input size (as the paper and the report's figures do),
and quantised to uint8 over its own range (the grid can exceed [0, 1] at a sharp peak, which the
upsampling never reaches). The page upsamples it bilinearly (half-pixel centres, edges clamped,
as ``jax.image.resize``: normalising before or after is the same affine map), clips to [0, 1]
and overlays it. Sub-concepts are normalised with their parent's min and max (§3.4).

Dictionary methods (C2MF, CRAFT, PCA) show code maps: each concept's code at each position,
divided by the concept's largest code over the coded images (PCA's signed codes by their largest
magnitude, shown as ``|code|``), so a weak code shows as weak across images.

**Suppression** is computed in the page: with a GAP + linear head
``z = mean_p(a_p) Hᵀ + b`` and a reconstruction ``a_p ≈ Σ_j u_pj w_j (+ mean)``, removing concept
``j`` from the activations (``a_p − u_pj w_j``) changes the logits by exactly
``−ū_j (w_j Hᵀ)`` with ``ū_j = mean_p u_pj``. The page holds each coded image's logits, ``ū``
and the method's ``w_j Hᵀ`` (:func:`concept_logits`), and recomputes the top-5 in JavaScript.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["GridMaps", "b64", "grid_maps", "code_maps_u8", "concept_logits", "nearest_concepts",
           "softmax", "top_k"]


def b64(a: np.ndarray) -> str:
    """Base64 of a C-ordered array's bytes (uint8 maps, float32 little-endian logits)."""
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return base64.b64encode(a.tobytes()).decode("ascii")


def _u8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


class GridMaps(NamedTuple):
    """maps: uint8 (B, K, h, w), ranges: float32 (B, K, 2); sub_maps: uint8 (B, K, S, h, w) and
    sub_ranges (B, K, S, 2), or None. A map's value on the grid is
    ``lo + (hi − lo) · u8 / 255`` with ``(lo, hi) = ranges[...]``; the page upsamples that and
    clips it to [0, 1]."""

    maps: np.ndarray
    ranges: np.ndarray
    sub_maps: np.ndarray | None
    sub_ranges: np.ndarray | None


@functools.lru_cache(maxsize=16)
def _interp(n: int, size: int) -> np.ndarray:
    """The rows of the ``(size, n)`` bilinear interpolation matrix of ``jax.image.resize``
    (half-pixel centres, edge taps renormalised, i.e. clamped) that can hold an extremum.

    Every output row mixes two neighbouring input rows, ``(1 − f) x_i + f x_{i+1}``. On the
    output samples between two input rows the map is bilinear in the two fractions, so it is
    monotone in each for the other fixed: its min and max over those samples lie on the smallest
    or largest ``f`` sampled for that pair. Keeping only those rows (at most 2 per pair, plus the
    clamped edges) gives exactly the min and max of the full upsampled map from a ≤ 2n × 2n map.
    """
    import jax

    R = (np.eye(n, dtype=np.float32) if n == size else
         np.asarray(jax.image.resize(np.eye(n, dtype=np.float32), (size, n), "bilinear")))
    first = (R > 0).argmax(1)  # the lower input row of each output row
    frac = R[np.arange(size), np.minimum(first + 1, n - 1)] * (first + 1 < n)
    keep = set()
    for i in np.unique(first):
        rows = np.flatnonzero(first == i)
        keep.update((int(rows[np.argmin(frac[rows])]), int(rows[np.argmax(frac[rows])])))
    return R[sorted(keep)]


def _encode(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 of ``v`` (..., h, w) over its own [min, max] (which holds [0, 1] where the map is
    normalised) and the (..., 2) range."""
    lo = np.minimum(v.min((-2, -1)), 0.0)
    hi = np.maximum(v.max((-2, -1)), 1.0)
    q = _u8((v - lo[..., None, None]) / (hi - lo)[..., None, None])
    return q, np.stack([lo, hi], -1).astype(np.float32)


def grid_maps(activations, labels, sub_labels=None, *, n_concepts: int, n_sub: int = 0,
              size: tuple[int, int] | None = None) -> GridMaps:
    """Concept and sub-concept maps on the feature grid, normalised as the paper normalises them
    after bilinear upsampling to ``size`` (the model's input; None: on the grid), quantised.

    Args:
        activations: float (B, C, h, w).
        labels: int (B, C) concept of each channel in [0, K), -1 dead.
        sub_labels: int (B, C) sub-concept within the parent in [0, S), -1 dead; or None.
        n_concepts: K; n_sub: S; size: (H, W).

    Returns:
        :class:`GridMaps`. A concept's min and max are those of its upsampled map (the page
        draws the same bilinear surface); an empty or flat concept's map is all zero.

    Raises:
        ValueError: shapes that do not agree.
    """
    A = np.asarray(activations, np.float32)
    lab = np.asarray(labels)
    if A.ndim != 4 or lab.shape != A.shape[:2]:
        raise ValueError(f"activations (B, C, h, w) and labels (B, C) should agree, got "
                         f"{A.shape} and {lab.shape}")
    B, C, h, w = A.shape
    flat = A.reshape(B, C, h * w)
    onehot = (lab[:, None, :] == np.arange(n_concepts)[None, :, None]).astype(np.float32)
    sums = (onehot @ flat).reshape(B, n_concepts, h, w)
    # the min and max of the map upsampled to ``size``, from its extreme rows and columns only
    up = (_interp(h, size[0]) @ sums @ _interp(w, size[1]).T) if size else sums
    lo, hi = up.min((-2, -1)), up.max((-2, -1))
    ok = (hi > lo)[..., None, None]
    span = np.where(ok, (hi - lo)[..., None, None], 1.0)
    maps, ranges = _encode(np.where(ok, (sums - lo[..., None, None]) / span, 0.0))
    if sub_labels is None or not n_sub:
        return GridMaps(maps, ranges, None, None)
    sub = np.asarray(sub_labels)
    if sub.shape != lab.shape:
        raise ValueError(f"sub_labels {sub.shape} should have the labels' shape {lab.shape}")
    key = np.where((lab >= 0) & (sub >= 0), lab * n_sub + sub, -1)
    oh = (key[:, None, :] == np.arange(n_concepts * n_sub)[None, :, None]).astype(np.float32)
    s_sums = (oh @ flat).reshape(B, n_concepts, n_sub, h, w)
    present = oh.reshape(B, n_concepts, n_sub, C).any(-1)[..., None, None]
    s_norm = (s_sums - lo[:, :, None, None, None]) / span[:, :, None]
    s_norm = np.where(present & ok[:, :, None], s_norm, 0.0)
    sub_maps, sub_ranges = _encode(s_norm)
    return GridMaps(maps, ranges, sub_maps, sub_ranges)


def code_maps_u8(codes: np.ndarray, scale: np.ndarray, *, signed: bool) -> np.ndarray:
    """Code maps ``(N, k, h, w)`` divided by each concept's ``scale`` (``(k,)``, or ``(N, k)``
    when the images' k codes are different concepts) (``|code|`` when ``signed``), quantised to
    uint8."""
    c = np.abs(codes) if signed else np.maximum(codes, 0.0)
    s = np.where(scale > 0, scale, 1.0)
    s = (s[None] if s.ndim == 1 else s)[:, :, None, None]
    return _u8(c / s)


def concept_logits(W: np.ndarray, head_weight: np.ndarray) -> np.ndarray:
    """``(G, K)`` float32: ``w_j Hᵀ``, the logit change per unit mean code of concept ``j``
    (module doc). ``W``: ``(G, c)`` the concepts' vectors; ``head_weight``: ``(K, c)``."""
    W, H = np.asarray(W, np.float64), np.asarray(head_weight, np.float64)
    if W.ndim != 2 or H.ndim != 2 or W.shape[1] != H.shape[1]:
        raise ValueError(f"W (G, c) and the head's weight (K, c) should agree, got {W.shape} and "
                         f"{H.shape}")
    return (W @ H.T).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def top_k(p: np.ndarray, k: int = 5) -> list[list]:
    """``[[output, probability], ...]`` of the ``k`` largest (ties: lower output first)."""
    order = np.argsort(-np.asarray(p), kind="stable")[:k]
    return [[int(o), round(float(p[o]), 5)] for o in order]


def nearest_concepts(Wa: np.ndarray, Wb: np.ndarray, *, top: int = 3) -> list[dict]:
    """For each concept of ``Wa`` ``(Ga, c)``: its Hungarian match in ``Wb`` ``(Gb, c)`` by
    |cosine| (scipy's ``linear_sum_assignment``; with Ga > Gb some concepts have none) and its
    ``top`` nearest by |cosine|: ``[{"match": [j, cos] or None, "nearest": [[j, cos], ...]}]``.
    |cosine| because PCA's directions have no sign."""
    from scipy.optimize import linear_sum_assignment

    def unit(W):
        W = np.asarray(W, np.float64)
        n = np.linalg.norm(W, axis=1, keepdims=True)
        return W / np.where(n > 0, n, 1.0)

    cos = np.abs(unit(Wa) @ unit(Wb).T)
    rows, cols = linear_sum_assignment(-cos)
    match = dict(zip(rows.tolist(), cols.tolist()))
    out = []
    for i in range(cos.shape[0]):
        near = np.argsort(-cos[i], kind="stable")[:top]
        m = match.get(i)
        out.append({"match": None if m is None else [int(m), round(float(cos[i, m]), 4)],
                    "nearest": [[int(j), round(float(cos[i, j]), 4)] for j in near]})
    return out


def rounded(x: Sequence[float] | np.ndarray, nd: int = 4) -> list:
    """A nested list of floats rounded to ``nd`` decimals (NaN → None)."""
    a = np.asarray(x, np.float64)
    return [rounded(r, nd) for r in a] if a.ndim > 1 else [
        None if not np.isfinite(v) else round(float(v), nd) for v in a]
