"""Cluster-quality metrics for one example, weighted and mask-aware: silhouette (Rousseeuw 1987),
Calinski-Harabasz (1974) and Davies-Bouldin (1979), with scikit-learn's conventions.

Points are transposed, ``xt`` (D, n); ``labels`` (n,) in [0, K) with -1 (or weight 0) for absent
points; weights ``w`` (n,) count a point that many times (the CPHA grid). Only non-empty clusters
count, as if labels had been re-encoded (scikit-learn's ``LabelEncoder``). Conventions kept from
scikit-learn: silhouette 0 for a point alone in its cluster and where a = b = 0; Calinski-Harabasz
1 when the within-cluster dispersion is 0; Davies-Bouldin 0 when all clusters have zero spread or
all centroids coincide, and coincident centroid pairs ignored. scikit-learn raises when fewer than
2 non-empty clusters exist; here every metric is 0 in that case (the caller flags it).

The silhouette is O(n^2): the present points are counting-sorted to the front, cut at the
smallest multiple of ``block[0]`` that holds them, and the distance matrix of those m points is
formed ``block[1]`` rows at a time and multiplied by the weighted one-hot labels (m, K), giving
each point's distance sums per cluster; memory is block[1] x m.
Distances are direct differences, not |x|^2 + |y|^2 - 2 x.y,
which loses precision in float32.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._prefix import prefix_sizes, prefix_switch

__all__ = [
    "ClusterMetrics",
    "cluster_metrics",
    "silhouette_t",
    "calinski_harabasz_t",
    "davies_bouldin_t",
    "cluster_stats_t",
    "sort_by_cluster_t",
]


class ClusterMetrics(NamedTuple):
    silhouette: jax.Array
    calinski_harabasz: jax.Array
    davies_bouldin: jax.Array


def _onehot_w(labels, w, n_clusters):
    """(n, K) one-hot of labels times the weight; absent points are zero rows."""
    return (labels[:, None] == jnp.arange(n_clusters)[None, :]) * w[:, None]


def cluster_stats_t(xt, w, labels, n_clusters: int):
    """Weighted counts (K,) and centroids (K, D) (0 for empty clusters)."""
    oh = _onehot_w(labels, w, n_clusters)  # (n, K)
    cnt = jnp.sum(oh, axis=0)
    sums = xt @ oh  # (D, K)
    cen = (sums / jnp.where(cnt > 0, cnt, 1.0)[None, :]).T
    return cnt, cen


def _pdist_tile(ar, bc):
    """Euclidean distances between the columns of ar (D, R) and bc (D, S): (R, S)."""
    acc = jnp.square(ar[0][:, None] - bc[0][None, :])
    for d in range(1, ar.shape[0]):
        acc = acc + jnp.square(ar[d][:, None] - bc[d][None, :])
    return jnp.sqrt(acc)


def sort_by_cluster_t(xt, w, labels, n_clusters: int):
    """Counting sort of the present points by cluster (stable; absent points last).

    Returns (xs (D, n), ws (n,), ls (n,) with -1 for absent, n_present, cluster start offsets
    (K + 1,), pos (n,): the sorted position of each point). A cumsum of the one-hot labels, then
    a scatter: no comparison sort.
    """
    present = (w > 0) & (labels >= 0)
    lab = jnp.where(present, labels, n_clusters)  # absent points: a last pseudo-cluster
    oh = lab[:, None] == jnp.arange(n_clusters + 1)[None, :]  # (n, K + 1)
    cnt = jnp.sum(oh, axis=0, dtype=jnp.int32)
    start = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(cnt)])  # (K + 2,)
    rank = jnp.sum(jnp.where(oh, jnp.cumsum(oh, axis=0, dtype=jnp.int32), 0), axis=1) - 1
    pos = start[lab] + rank  # a permutation of [0, n)
    xs = jnp.zeros_like(xt).at[:, pos].set(xt)
    ws = jnp.zeros_like(w).at[pos].set(jnp.where(present, w, 0.0))
    ls = jnp.full(labels.shape, -1, jnp.int32).at[pos].set(jnp.where(present, lab, -1))
    return xs, ws, ls, start[n_clusters], start[: n_clusters + 1], pos


def _distance_sums(xs, oh, n_valid, step: int, rows: int, floor: int = 0):
    """S (n, K): S[i, k] = sum_j oh[j, k] |x_i - x_j| over the first n_valid points (the present
    ones, sorted first by :func:`sort_by_cluster_t`); rows beyond n_valid are 0.

    The points are cut at the smallest multiple of ``step`` holding n_valid
    (:func:`~._prefix.prefix_switch`), and each block of ``rows`` rows of the m x m distance
    matrix is formed in one fused operation and multiplied by the weighted one-hot labels
    (m, K). Whole-matrix operations, not a loop over small tiles: XLA's CPU runtime pays a fixed
    cost per operation that made 128-wide tiles ~3x slower (measured on CGAP's ~1000 live
    channels).
    """
    n, k = xs.shape[1], oh.shape[1]
    kp = -(-k // 8) * 8  # the product's narrow side padded to 8 columns: XLA's CPU GEMM takes
    # (m, m) @ (m, 8) faster than (m, m) @ (m, 5) (the silhouette: ~8 % less CPU, 1000 points)

    def run(m, xs, oh):
        xm, om = xs[:, :m], jnp.pad(oh[:m], ((0, 0), (0, kp - k)))
        s = jnp.concatenate([
            jnp.matmul(_pdist_tile(xm[:, i:i + rows], xm), om, precision=lax.Precision.HIGHEST)
            for i in range(0, m, rows)
        ])
        return jnp.pad(s[:, :k], ((0, n - m), (0, 0)))

    return prefix_switch(n_valid, prefix_sizes(n, step, floor=floor), run, xs, oh)


def silhouette_t(xt, w, labels, n_clusters: int, *, block=(256, 2048), n_valid=None, floor=0):
    """Mean silhouette coefficient, weighted: sum_i w_i s_i / sum_i w_i (Rousseeuw 1987).

    s_i = (b_i - a_i) / max(a_i, b_i) with a_i the mean distance to the other members of its
    cluster (sum over the cluster / (n_own - 1)) and b_i the lowest mean distance to another
    non-empty cluster. The present points are first sorted to the front, and only the smallest
    multiple of ``block[0]`` holding them takes part; the distance matrix is formed ``block[1]``
    rows at a time (memory block[1] x n). Under ``vmap`` every size's branch runs: give
    ``block[0] >= n`` there. ``floor``: more than that many points are known to be present
    (a caller's size bucket), and smaller sizes are not compiled. (``n_valid`` is accepted for
    compatibility and not needed.)
    """
    del n_valid
    n = xt.shape[1]
    if isinstance(block, int):
        block = (block, block)
    step, rows = min(block[0], n), min(block[1], n)
    xs, ws, ls, n_present, _, _ = sort_by_cluster_t(xt, w, labels, n_clusters)
    lab = jnp.maximum(ls, 0)
    oh = _onehot_w(ls, ws, n_clusters)
    cnt = jnp.sum(oh, axis=0)
    s = _distance_sums(xs, oh, n_present, step, rows, floor)  # (n, K)
    n_own = cnt[lab]
    a = jnp.take_along_axis(s, lab[:, None], axis=1)[:, 0] / jnp.maximum(n_own - 1.0, 1e-30)
    other = (jnp.arange(n_clusters)[None, :] != lab[:, None]) & (cnt[None, :] > 0)
    mean_d = s / jnp.where(cnt > 0, cnt, 1.0)[None, :]
    b_ = jnp.min(jnp.where(other, mean_d, jnp.inf), axis=1)
    den = jnp.maximum(a, b_)
    ok = (n_own > 1) & (den > 0) & jnp.isfinite(b_) & (ws > 0)
    sil = jnp.where(ok, (b_ - a) / jnp.where(ok, den, 1.0), 0.0)
    wsum = jnp.sum(ws)
    score = jnp.sum(ws * sil) / jnp.where(wsum > 0, wsum, 1.0)
    return jnp.where(jnp.sum(cnt > 0) >= 2, score, 0.0)


def calinski_harabasz_t(xt, w, labels, n_clusters: int):
    """Variance ratio criterion: [B / (k - 1)] / [W / (n - k)] (Calinski & Harabasz 1974)."""
    w = jnp.where(labels >= 0, w, 0.0)
    cnt, cen = cluster_stats_t(xt, w, labels, n_clusters)
    n = jnp.sum(w)
    k = jnp.sum(cnt > 0)
    mean = (xt @ w) / jnp.where(n > 0, n, 1.0)
    extra = jnp.sum(cnt * jnp.sum(jnp.square(cen - mean[None, :]), axis=1))
    lab = jnp.maximum(labels, 0)
    intra = jnp.sum(w * jnp.sum(jnp.square(xt - cen[lab].T), axis=0))
    kf = k.astype(xt.dtype)
    # Zero spread, scale-aware: float32 centroids of repeated points leave ~eps^2 residues.
    zero = intra <= 1e-11 * (intra + extra)
    ch = extra * (n - kf) / jnp.where(zero, 1.0, intra * (kf - 1.0))
    ch = jnp.where(zero, 1.0, ch)
    return jnp.where(k >= 2, ch, 0.0)


def davies_bouldin_t(xt, w, labels, n_clusters: int):
    """Mean over clusters of max_j (s_i + s_j) / d(c_i, c_j) (Davies & Bouldin 1979)."""
    w = jnp.where(labels >= 0, w, 0.0)
    cnt, cen = cluster_stats_t(xt, w, labels, n_clusters)
    lab = jnp.maximum(labels, 0)
    dist = jnp.sqrt(jnp.sum(jnp.square(xt - cen[lab].T), axis=0))  # (n,)
    present = cnt > 0
    intra = _onehot_w(labels, w, n_clusters).T @ dist / jnp.where(present, cnt, 1.0)  # (K,)
    cd = _pdist_tile(cen.T, cen.T)  # (K, K)
    off = ~jnp.eye(n_clusters, dtype=bool)  # the diagonal is 0 but may not round to 0 in a fusion
    pair = present[:, None] & present[None, :] & off
    # np.allclose(x, 0) (|x| <= 1e-8), made scale-aware for float32 rounding of the centroids.
    scale = jnp.max(jnp.where(pair, cd, 0.0))
    tiny = jnp.maximum(1e-8, 1e-6 * scale)
    all_zero_intra = jnp.all(jnp.where(present, jnp.abs(intra) <= tiny, True))
    all_zero_cd = jnp.all(jnp.where(pair, cd <= 1e-8, True))  # (diagonal 0 in scikit-learn too)
    comb = (intra[:, None] + intra[None, :]) / jnp.where(cd > 0, cd, 1.0)
    comb = jnp.where(pair & (cd > 0), comb, 0.0)
    k = jnp.sum(present)
    db = jnp.sum(jnp.where(present, jnp.max(comb, axis=1), 0.0)) / jnp.maximum(k, 1)
    return jnp.where((k >= 2) & ~all_zero_intra & ~all_zero_cd, db, 0.0)


@partial(jax.jit, static_argnames=("n_clusters", "block"))
def _metrics_jit(x, w, labels, *, n_clusters, block):
    xt = x.T
    return ClusterMetrics(
        silhouette_t(xt, w, labels, n_clusters, block=block),
        calinski_harabasz_t(xt, w, labels, n_clusters),
        davies_bouldin_t(xt, w, labels, n_clusters),
    )


def cluster_metrics(
    x, labels, weights=None, *, n_clusters: int | None = None, block: tuple[int, int] = (256, 2048)
):
    """Silhouette, Calinski-Harabasz and Davies-Bouldin of one labelling (jit; ``vmap`` to batch).

    Args:
      x: float (n, D) points.  labels: int (n,) in [0, n_clusters), -1 = absent.
      weights: float (n,) non-negative or bool (n,) mask; default all ones.
      n_clusters: K (static); default max(labels) + 1 (needs concrete labels).
      block: silhouette (size step, rows per product), see :func:`silhouette_t`.
    Returns: :class:`ClusterMetrics` of scalars; each 0 when fewer than 2 non-empty clusters.
    """
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x should have shape (n, D), got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"x should be a floating array, got dtype {x.dtype}")
    labels = jnp.asarray(labels)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels should have shape ({x.shape[0]},), got shape {labels.shape}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels should be an integer array, got dtype {labels.dtype}")
    if n_clusters is None:
        n_clusters = int(jnp.max(labels)) + 1 if labels.size else 1
    if not isinstance(n_clusters, int) or n_clusters < 1:
        raise ValueError(f"n_clusters={n_clusters!r} should be an int >= 1")
    if weights is None:
        w = jnp.ones((x.shape[0],), x.dtype)
    else:
        w = jnp.asarray(weights)
        if w.shape != (x.shape[0],):
            raise ValueError(f"weights should have shape ({x.shape[0]},), got shape {w.shape}")
        w = w.astype(x.dtype)
    if isinstance(block, int):
        block = (block, block)
    return _metrics_jit(
        x, w, labels.astype(jnp.int32), n_clusters=n_clusters, block=tuple(int(b) for b in block)
    )
