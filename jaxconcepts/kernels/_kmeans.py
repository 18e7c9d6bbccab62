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
best inertia over ``n_init`` restarts.

Two details matter on data with many exact ties, such as CPHA's integer grid, where a weighted
grid position must behave like that many coincident points of scikit-learn's input:

- **Ties in the E-step.** k-means++ centres are data points, so on an integer grid many points are
  exactly equidistant from two centres at the first E-step (how they are broken changes the
  result of about a quarter of the runs on CPHA's 8x8 grids). scikit-learn computes
  ``|c|^2 - 2 x.c`` in float64 on mean-centred data and takes the first minimum: float64
  rounding decides ~60 % of such ties, point by point, as a fixed function of the point and the
  centres; the ~40 % that it computes exactly go to the lowest index.
  Always taking the lowest index instead favours the first k-means++ centre and raises the mean
  inertia on grids by about 0.3 % (paired, from the same initial centres). With ``ties="hash"``
  a tie goes to the centre with the lowest ``h(x) ^ h(c_k)``, ``h`` a hash of the coordinates'
  bits: like scikit-learn's rounding, a fixed function of the point and the centres with no
  preference for an index, so coincident points (a grid position and the raw points it stands
  for) always go together, restarts from the same centres give the same result, and coincident
  centres resolve to the lowest index.
- **Empty clusters.** scikit-learn moves one *point* (the farthest) into each empty cluster. A
  weight is read as a multiplicity: a point of weight w stands for ``ceil(w)`` coincident points
  of weight <= 1, and relocation moves one of them (weight ``min(w, 1)``), so several empty
  clusters may take points from the same position, as on the raw points. Weights 0/1 (masks)
  are plain points.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = [
    "KMeansResult",
    "kmeans",
    "kmeans_t",
    "kmeans_plusplus_t",
    "lloyd_t",
    "assign_t",
    "point_hash_t",
]


class KMeansResult(NamedTuple):
    """Result of :func:`kmeans` for one example.

    labels: int32 (n,), cluster of each point in [0, K), -1 for points of weight 0.
    centers: float (K, D); a cluster that ends empty sits on the heaviest cluster's centre.
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


def _fmix32(h):
    """murmur3's 32-bit finaliser (a bijective avalanche mix of uint32)."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


_SALT_POINTS, _SALT_CENTRES = 0x9E3779B9, 0x7F4A7C15


def _hash_coords(rows, salt):
    """uint32 hash of points given as a list of D coordinate arrays (``+ 0.0`` folds -0 into 0)."""
    h = jnp.broadcast_to(jnp.asarray(salt, jnp.uint32), jnp.shape(rows[0]))
    for r in rows:
        bits = lax.bitcast_convert_type((r + 0.0).astype(jnp.float32), jnp.uint32)
        h = _fmix32(h ^ bits)
    return h


def point_hash_t(xt):
    """Tie-breaking hash of every point, uint32 (n,), a function of its coordinates only:
    coincident points get the same value (see the module docstring). Args: xt (D, n)."""
    return _hash_coords([xt[d] for d in range(xt.shape[0])], _SALT_POINTS)


def assign_t(xt, centers, hx=None):
    """E-step: nearest centre and its squared distance.

    Ties go to the lowest index (like argmin) when ``hx`` is None; otherwise to the centre k with
    the lowest ``hx ^ h(c_k)``, ``hx`` from :func:`point_hash_t` (coincident centres: lowest
    index). Args: xt (D, n), centers (K, D), hx uint32 (n,) or None.
    Returns labels int32 (n,), min squared distance (n,).
    """
    dists = _sqdist_rows(xt, centers)
    best = dists[0]
    lab = jnp.zeros(best.shape, jnp.int32)
    if hx is None:
        for k in range(1, len(dists)):
            upd = dists[k] < best
            best = jnp.where(upd, dists[k], best)
            lab = jnp.where(upd, k, lab)
        return lab, best
    hc = _hash_coords([centers[:, d] for d in range(centers.shape[1])], _SALT_CENTRES)  # (K,)
    prio = hx ^ hc[0]
    for k in range(1, len(dists)):
        pk = hx ^ hc[k]
        upd = (dists[k] < best) | ((dists[k] == best) & (pk < prio))
        best = jnp.where(upd, dists[k], best)
        lab = jnp.where(upd, k, lab)
        prio = jnp.where(upd, pk, prio)
    return lab, best


def _update_centers(xt, w, labels, mind, centers_old):
    """M-step with scikit-learn's empty-cluster relocation; returns new centres (K, D).

    ``centers_old`` only gives K: like scikit-learn, a cluster that stays empty is placed on the
    heaviest cluster's new centre, not left where it was.
    """
    d_feat, n = xt.shape
    k_clusters = centers_old.shape[0]
    # One product [points; 1] @ memberships: ~2x cheaper per step than K (D + 1) masked sums (a
    # broadcast-multiply-reduce, cheaper still, miscompiles in a size-1 vmap on XLA CPU 0.10.2).
    member = jnp.where(labels[None, :] == jnp.arange(k_clusters)[:, None], w[None, :], 0.0)
    xa = jnp.concatenate([xt, jnp.ones((1, n), xt.dtype)])  # (D + 1, n)
    st = jnp.matmul(xa, member.T, precision=lax.Precision.HIGHEST).T  # (K, D + 1)
    sums, cnts = st[:, :d_feat], st[:, d_feat]

    # Empty clusters take the points farthest from their centres, one point each, in cluster order
    # (scikit-learn `_relocate_empty_clusters_dense`). A weight w counts as ceil(w) coincident
    # points of weight <= 1, so the r-th empty cluster takes one unit from the position holding
    # the r-th farthest unit. Nothing moves when every present point sits on its centre (fewer
    # distinct points than K); scikit-learn then leaves the cluster empty, as here.
    empty = cnts <= 0
    rank = jnp.cumsum(empty) - 1
    n_top = min(k_clusters, n)

    def relocate_all(sc):
        sums, cnts = sc
        md = jnp.where(w > 0, mind, -jnp.inf)
        # (a reduction of its own: testing `far_d[0]` made XLA's CPU code ~5x slower)
        any_far = jnp.max(md) > 0
        far_d, far_i = lax.top_k(md, n_top)
        units = jnp.where(far_d > -jnp.inf, jnp.ceil(w[far_i]), 0.0)  # unit points per position
        ends = jnp.cumsum(units)  # unit r lies in position j with ends[j-1] <= r < ends[j]
        # all empty clusters at once: the k-th takes unit rank[k] (a (K,) vector of everything)
        r = rank.astype(ends.dtype)
        j = jnp.clip(jnp.sum(ends[None, :] <= r[:, None], axis=1), 0, n_top - 1)
        p = far_i[j]
        taken = r - (ends[j] - units[j])  # units already taken from p by earlier clusters
        ok = empty & any_far & (r < ends[-1])
        wp = jnp.where(ok, jnp.clip(w[p] - taken, 0.0, 1.0), 0.0)  # (K,)
        xp = xt[:, p].T * wp[:, None]  # (K, D) weighted moved points
        # lose[e, c]: empty cluster e takes its point from cluster c (no matmul: exact on GPUs)
        lose = (labels[p][:, None] == jnp.arange(k_clusters)[None, :]) & ok[:, None]  # (K, K)
        sums = sums - jnp.sum(jnp.where(lose[:, :, None], xp[:, None, :], 0.0), axis=0)
        cnts = cnts - jnp.sum(jnp.where(lose, wp[:, None], 0.0), axis=0)
        sums = jnp.where(ok[:, None], xp, sums)
        cnts = jnp.where(ok, wp, cnts)
        return sums, cnts

    # Only when a cluster is empty (a real branch unless vmapped, where both sides run).
    sums, cnts = lax.cond(jnp.any(empty), relocate_all, lambda sc: sc, (sums, cnts))
    # A cluster still empty sits on the heaviest cluster's centre (scikit-learn
    # `_average_centers`); the E-step's tie-break then gives it nothing, or everything.
    safe = jnp.where(cnts > 0, cnts, 1.0)
    avg = sums / safe[:, None]
    return jnp.where((cnts > 0)[:, None], avg, avg[jnp.argmax(cnts)])


def _tolerance(xt, w, tol):
    """tol times the mean weighted variance of the features: scikit-learn's `_tolerance` on the
    points the weights stand for (scikit-learn itself ignores sample weights here)."""
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


def lloyd_t(xt, w, centers, *, max_iter=300, tol=1e-4, hx=None):
    """Lloyd iterations from ``centers`` in a ``lax.while_loop`` (scikit-learn's stopping rules).

    ``max_iter`` (int) and ``tol`` (float) may be traced scalars: they only enter the loop's
    condition, so one compiled program serves every value.

    ``hx``: optional uint32 (n,) tie-breaking hash of the points (:func:`point_hash_t`); None
    sends ties to the lowest centre index.
    Returns (labels int32 (n,) with -1 for absent points, centres (K, D), inertia, n_iter).
    """
    tol_abs = _tolerance(xt, w, tol)

    def cond(s: _LloydState):
        return (s.it < max_iter) & ~s.done

    def body(s: _LloydState):
        lab, mind = assign_t(xt, s.centers, hx)
        new = _update_centers(xt, w, lab, mind, s.centers)
        strict = jnp.all((lab == s.labels) | (w <= 0))
        shift = jnp.sum(jnp.square(new - s.centers))
        return _LloydState(new, lab, s.it + 1, strict | (shift <= tol_abs))

    n = xt.shape[1]
    s0 = _LloydState(centers, jnp.full((n,), -1, jnp.int32), jnp.int32(0), jnp.bool_(False))
    s = lax.while_loop(cond, body, s0)
    lab, mind = assign_t(xt, s.centers, hx)
    inertia = jnp.sum(jnp.where(w > 0, w * mind, 0.0))
    return jnp.where(w > 0, lab, -1), s.centers, inertia, s.it


def kmeans_t(
    xt,
    w,
    key,
    *,
    n_clusters: int,
    n_init: int = 1,
    max_iter=300,
    tol=1e-4,
    ties: str = "hash",
    sequential: bool = False,
) -> KMeansResult:
    """k-means on transposed points ``xt`` (D, n) with weights ``w`` (n,); no validation.

    ``n_init`` > 1 restarts run in parallel (``vmap`` over split keys), or one after the other
    with ``sequential`` (``lax.map``: same result; cheaper on many points, where a ``vmap`` runs
    each restart for as many Lloyd steps as the slowest, and the empty-cluster relocation at
    every step); the lowest inertia is kept.
    ``ties``: "hash" breaks exact E-step ties by a hash of the coordinates (needed on integer
    grids, see the module docstring); "first" sends them to the lowest centre index, which is
    cheaper and equivalent where exact ties have probability 0 (continuous data).
    """
    hx = point_hash_t(xt) if ties == "hash" else None

    def one(k):
        c0 = kmeans_plusplus_t(xt, w, k, n_clusters)
        return lloyd_t(xt, w, c0, max_iter=max_iter, tol=tol, hx=hx)

    keys = jax.random.split(key, n_init)
    if n_init == 1:
        labels, centers, inertia, n_iter = jax.tree.map(lambda a: a[None], one(keys[0]))
    elif sequential:
        labels, centers, inertia, n_iter = lax.map(one, keys)
    else:
        labels, centers, inertia, n_iter = jax.vmap(one)(keys)
    b = jnp.argmin(inertia)
    lab = labels[b]
    present = jnp.stack([jnp.any(lab == k) for k in range(n_clusters)])
    return KMeansResult(lab, centers[b], inertia[b], n_iter[b], jnp.sum(present).astype(jnp.int32))


@partial(jax.jit, static_argnames=("n_clusters", "n_init", "ties"))
def _kmeans_jit(x, w, key, max_iter, tol, *, n_clusters, n_init, ties):
    """``max_iter`` and ``tol`` are traced (int32 / float scalars): changing them reuses the
    compiled program."""
    return kmeans_t(x.T, w, key, n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, tol=tol,
                    ties=ties)


def kmeans(
    x,
    weights=None,
    *,
    n_clusters: int,
    key,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    ties: str = "hash",
) -> KMeansResult:
    """k-means of one example's points (jit-compiled; ``vmap`` it for a batch).

    Minimises sum_i w_i |x_i - c_{l_i}|^2 (Lloyd 1982) from k-means++ seeds, like scikit-learn's
    ``KMeans(n_clusters, init="k-means++", n_init=n_init, max_iter, tol)``. ``n_init=1`` is
    scikit-learn's ``n_init="auto"`` for k-means++.

    Args:
      x: float (n, D) points.
      weights: float (n,) non-negative sample weights or bool (n,) mask; 0/False = absent.
      n_clusters: K >= 1.  key: PRNG key.  n_init >= 1 restarts.  max_iter >= 1.  tol >= 0.
        (``max_iter`` and ``tol`` are traced: another value reuses the compiled program.)
      ties: "hash" or "first", how exact E-step ties are broken; see :func:`kmeans_t`.
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
    if ties not in ("hash", "first"):
        raise ValueError(f"ties={ties!r}; valid choices: ['hash', 'first']")
    return _kmeans_jit(x, w, key, jnp.int32(max_iter), jnp.asarray(tol, x.dtype),
                       n_clusters=n_clusters, n_init=n_init, ties=ties)


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
