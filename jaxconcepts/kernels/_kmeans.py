"""Weighted, mask-aware k-means for one example (k-means++ init + Lloyd), batched with ``vmap``.

Points are stored transposed, ``xt`` of shape (D, n), and the loops over the D features and the K
centres are unrolled in Python: D and K are small (CGAP: D = N-1 = 4, K = 5; CPHA: D = 2), so every
distance is a handful of fused element-wise ops over n instead of a reduction over a tiny trailing
axis. A point with weight 0 is absent (padding, dead channel); integer weights make a weighted point
equal to that many coincident points (the CPHA grid trick).

The algorithm follows scikit-learn's ``KMeans(init="k-means++", algorithm="lloyd")``
(``sklearn/cluster/_kmeans.py``): greedy k-means++ with ``2 + int(log K)`` local trials, Lloyd
iterations that stop on unchanged labels or a centre shift below ``tol`` times the mean
feature variance, a final E-step, relocation of empty clusters to the farthest points, and the
best inertia over ``n_init`` restarts (run in parallel with ``vmap``).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["KMeansResult", "kmeans", "kmeans_t", "kmeans_plusplus_t", "lloyd_t", "assign_t"]


class KMeansResult(NamedTuple):
    """Result of :func:`kmeans` for one example.

    labels: int32 (n,), cluster of each point in [0, K), -1 for points of weight 0.
    centers: float (K, D); a cluster that ends empty keeps its last centre.
    inertia: float (), sum of w_i |x_i - c_{l_i}|^2 over present points.
    n_iter: int32 (), Lloyd iterations of the kept restart.
    n_clusters: int32 (), number of non-empty clusters (< K when fewer distinct points than K).
    """

    labels: jax.Array
    centers: jax.Array
    inertia: jax.Array
    n_iter: jax.Array
    n_clusters: jax.Array


class _LloydState(NamedTuple):
    centers: jax.Array  # (K, D)
    labels: jax.Array  # (n,) labels of the previous E-step
    it: jax.Array
    done: jax.Array


def _sqdist_rows(xt, c):
    """Squared distances from every point to each centre: list of K arrays (n,). Unrolled."""
    d_feat, _ = xt.shape
    out = []
    for k in range(c.shape[0]):
        acc = jnp.square(xt[0] - c[k, 0])
        for d in range(1, d_feat):
            acc = acc + jnp.square(xt[d] - c[k, d])
        out.append(acc)
    return out


def assign_t(xt, centers):
    """E-step: nearest centre (ties to the lowest index, like argmin) and its squared distance.

    Args: xt (D, n), centers (K, D). Returns labels int32 (n,), min squared distance (n,).
    """
    dists = _sqdist_rows(xt, centers)
    best = dists[0]
    lab = jnp.zeros(best.shape, jnp.int32)
    for k in range(1, len(dists)):
        upd = dists[k] < best
        best = jnp.where(upd, dists[k], best)
        lab = jnp.where(upd, k, lab)
    return lab, best


def _update_centers(xt, w, labels, mind, centers_old):
    """M-step with scikit-learn's empty-cluster relocation; returns new centres (K, D)."""
    d_feat, n = xt.shape
    k_clusters = centers_old.shape[0]
    sums, cnts = [], []
    for k in range(k_clusters):
        m = jnp.where(labels == k, w, 0.0)
        cnts.append(jnp.sum(m))
        sums.append(jnp.stack([jnp.sum(m * xt[d]) for d in range(d_feat)]))
    sums = jnp.stack(sums)  # (K, D)
    cnts = jnp.stack(cnts)  # (K,)

    # Empty clusters take the points farthest from their centres (scikit-learn
    # `_relocate_empty_clusters_dense`), in cluster order; a point at distance 0 brings no gain
    # and is not moved (fewer distinct points than K: the cluster stays empty and is reported).
    empty = cnts <= 0
    rank = jnp.cumsum(empty) - 1

    def relocate_all(sc):
        far_d, far_i = lax.top_k(jnp.where(w > 0, mind, -jnp.inf), min(k_clusters, n))

        def relocate(k, sc):
            sums, cnts = sc
            r = jnp.clip(rank[k], 0, far_i.shape[0] - 1)
            p = far_i[r]
            ok = empty[k] & (rank[k] < far_i.shape[0]) & (far_d[r] > 0)
            wp = jnp.where(ok, w[p], 0.0)
            xp = xt[:, p]
            old = labels[p]
            sums = sums.at[old].add(-wp * xp)
            cnts = cnts.at[old].add(-wp)
            sums = sums.at[k].set(jnp.where(ok, wp * xp, sums[k]))
            cnts = cnts.at[k].set(jnp.where(ok, wp, cnts[k]))
            return sums, cnts

        return lax.fori_loop(0, k_clusters, relocate, sc)

    # Only when a cluster is empty (a real branch unless vmapped, where both sides run).
    sums, cnts = lax.cond(jnp.any(empty), relocate_all, lambda sc: sc, (sums, cnts))
    safe = jnp.where(cnts > 0, cnts, 1.0)
    return jnp.where((cnts > 0)[:, None], sums / safe[:, None], centers_old)


def _tolerance(xt, w, tol):
    """tol times the mean weighted variance of the features (scikit-learn `_tolerance`)."""
    wsum = jnp.maximum(jnp.sum(w), 1e-30)
    mean = jnp.sum(xt * w, axis=1, keepdims=True) / wsum
    var = jnp.sum(jnp.square(xt - mean) * w, axis=1) / wsum
    return jnp.mean(var) * tol


def _searchsorted_valid(cum, r, score):
    """Index of the first cumsum entry > r, falling back to the best-scoring point."""
    idx = jnp.searchsorted(cum, r, side="right", method="compare_all")
    idx = jnp.clip(idx, 0, cum.shape[0] - 1)
    return jnp.where(score[idx] > 0, idx, jnp.argmax(score))


def kmeans_plusplus_t(xt, w, key, n_clusters: int, n_local_trials: int | None = None):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; scikit-learn `_kmeans_plusplus`).

    Sampling uses ``cumsum`` + ``searchsorted`` on w_i D(x_i)^2. When the potential is 0
    (fewer distinct present points than K) the remaining centres duplicate a present point.

    Args:
      xt: float (D, n) points, transposed.  w: float (n,) weights, 0 = absent.
      key: PRNG key.  n_clusters: K.
    Returns: centres float (K, D).
    """
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    k0, key = jax.random.split(key)
    cw = jnp.cumsum(w)
    first = _searchsorted_valid(cw, jax.random.uniform(k0) * cw[-1], w)
    centers = jnp.zeros((n_clusters, xt.shape[0]), xt.dtype).at[0].set(xt[:, first])
    closest = _sqdist_rows(xt, centers[:1])[0]
    pot = jnp.sum(w * closest)
    keys = jax.random.split(key, n_clusters)

    def step(c, state):
        centers, closest, pot = state
        score = w * closest
        cum = jnp.cumsum(score)
        rand = jax.random.uniform(keys[c], (n_local_trials,)) * cum[-1]
        cand = _searchsorted_valid(cum, rand, score)
        # When the potential is 0 every point coincides with a centre: take any present point.
        cand = jnp.where(pot > 0, cand, first)
        cand_pts = xt[:, cand].T  # (T, D)
        d_cand = jnp.stack(_sqdist_rows(xt, cand_pts))  # (T, n)
        d_cand = jnp.minimum(closest[None, :], d_cand)
        cand_pot = jnp.sum(d_cand * w[None, :], axis=1)
        best = jnp.argmin(cand_pot)
        return centers.at[c].set(cand_pts[best]), d_cand[best], cand_pot[best]

    centers, _, _ = lax.fori_loop(1, n_clusters, step, (centers, closest, pot))
    return centers


def lloyd_t(xt, w, centers, *, max_iter: int = 300, tol: float = 1e-4):
    """Lloyd iterations from ``centers`` in a ``lax.while_loop`` (scikit-learn's stopping rules).

    Returns (labels int32 (n,) with -1 for absent points, centres (K, D), inertia, n_iter).
    """
    tol_abs = _tolerance(xt, w, tol)

    def cond(s: _LloydState):
        return (s.it < max_iter) & ~s.done

    def body(s: _LloydState):
        lab, mind = assign_t(xt, s.centers)
        new = _update_centers(xt, w, lab, mind, s.centers)
        strict = jnp.all((lab == s.labels) | (w <= 0))
        shift = jnp.sum(jnp.square(new - s.centers))
        return _LloydState(new, lab, s.it + 1, strict | (shift <= tol_abs))

    n = xt.shape[1]
    s0 = _LloydState(centers, jnp.full((n,), -1, jnp.int32), jnp.int32(0), jnp.bool_(False))
    s = lax.while_loop(cond, body, s0)
    lab, mind = assign_t(xt, s.centers)
    inertia = jnp.sum(jnp.where(w > 0, w * mind, 0.0))
    return jnp.where(w > 0, lab, -1), s.centers, inertia, s.it


def kmeans_t(
    xt, w, key, *, n_clusters: int, n_init: int = 1, max_iter: int = 300, tol: float = 1e-4
) -> KMeansResult:
    """k-means on transposed points ``xt`` (D, n) with weights ``w`` (n,); no validation.

    ``n_init`` restarts run in parallel (``vmap`` over split keys); the lowest inertia is kept.
    """

    def one(k):
        c0 = kmeans_plusplus_t(xt, w, k, n_clusters)
        return lloyd_t(xt, w, c0, max_iter=max_iter, tol=tol)

    keys = jax.random.split(key, n_init)
    labels, centers, inertia, n_iter = jax.vmap(one)(keys)
    b = jnp.argmin(inertia)
    lab = labels[b]
    present = jnp.stack([jnp.any(lab == k) for k in range(n_clusters)])
    return KMeansResult(lab, centers[b], inertia[b], n_iter[b], jnp.sum(present).astype(jnp.int32))


@partial(jax.jit, static_argnames=("n_clusters", "n_init", "max_iter", "tol"))
def _kmeans_jit(x, w, key, *, n_clusters, n_init, max_iter, tol):
    return kmeans_t(x.T, w, key, n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, tol=tol)


def kmeans(
    x,
    weights=None,
    *,
    n_clusters: int,
    key,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> KMeansResult:
    """k-means of one example's points (jit-compiled; ``vmap`` it for a batch).

    Minimises sum_i w_i |x_i - c_{l_i}|^2 (Lloyd 1982) from k-means++ seeds, like scikit-learn's
    ``KMeans(n_clusters, init="k-means++", n_init=n_init, max_iter, tol)``. ``n_init=1`` is
    scikit-learn's ``n_init="auto"`` for k-means++.

    Args:
      x: float (n, D) points.
      weights: float (n,) non-negative sample weights or bool (n,) mask; 0/False = absent.
      n_clusters: K >= 1.  key: PRNG key.  n_init >= 1 restarts.  max_iter >= 1.  tol >= 0.
    Returns: :class:`KMeansResult`.
    Raises: ValueError / TypeError for bad shapes, dtypes or hyperparameters.
    """
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x should have shape (n, D), got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"x should be a floating array, got dtype {x.dtype}")
    w = _check_weights(weights, x.shape[0], x.dtype)
    _check_hyper(n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, tol=tol)
    return _kmeans_jit(x, w, key, n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, tol=tol)


def _check_weights(weights, n, dtype):
    if weights is None:
        return jnp.ones((n,), dtype)
    w = jnp.asarray(weights)
    if w.shape != (n,):
        raise ValueError(f"weights should have shape ({n},), got shape {w.shape}")
    if not (w.dtype == jnp.bool_ or jnp.issubdtype(w.dtype, jnp.number)):
        raise TypeError(f"weights should be bool or numeric, got dtype {w.dtype}")
    w = w.astype(dtype)
    if not isinstance(w, jax.core.Tracer) and bool(jnp.any(w < 0)):
        raise ValueError("weights should be >= 0")
    return w


def _check_hyper(*, n_clusters, n_init, max_iter, tol):
    for name, v in (("n_clusters", n_clusters), ("n_init", n_init), ("max_iter", max_iter)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}={v!r} should be an int >= 1")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol={tol!r} should be a float >= 0")
