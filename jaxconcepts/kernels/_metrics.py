"""Cluster-quality metrics for one example, weighted and mask-aware: silhouette (Rousseeuw 1987),
Calinski-Harabasz (1974) and Davies-Bouldin (1979), with scikit-learn's conventions.

Points are transposed, ``xt`` (D, n); ``labels`` (n,) in [0, K) with -1 (or weight 0) for absent
points; weights ``w`` (n,) count a point that many times (the CPHA grid). Only non-empty clusters
count, as if labels had been re-encoded (scikit-learn's ``LabelEncoder``). Conventions kept from
scikit-learn: silhouette 0 for a point alone in its cluster and where a = b = 0; Calinski-Harabasz
1 when the within-cluster dispersion is 0; Davies-Bouldin 0 when all clusters have zero spread or
all centroids coincide, and coincident centroid pairs ignored. scikit-learn raises when fewer than
2 non-empty clusters exist; here every metric is 0 in that case (the caller flags it).

The silhouette is O(n^2): it runs over square tiles of the distance matrix (side ``block[0]``;
``block[1]`` is accepted and unused), each symmetric tile pair computed once and reduced into K
per-cluster sums by a product with the weighted one-hot labels, so memory stays O(n * K) and no
n x n matrix exists.
Distances are direct differences, not |x|^2 + |y|^2 - 2 x.y,
which loses precision in float32.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = [
    "ClusterMetrics",
    "cluster_metrics",
    "silhouette_t",
    "calinski_harabasz_t",
    "davies_bouldin_t",
    "cluster_stats_t",
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


def _distance_sums(xt, lab, w, n_clusters: int, n_valid, block: tuple[int, int]):
    """S (n, K): S[i, k] = sum_j w_j [l_j = k] |x_i - x_j| over the first n_valid points.

    Rows beyond n_valid hold unspecified values. Square tiles of side ``block[0]``; each
    unordered tile pair (I, J), J >= I, is computed once (the distance matrix is symmetric) and
    feeds both S[I] += D @ OH[J] and S[J] += D^T @ OH[I], with OH the weighted one-hot (n, K):
    half the square roots of the full matrix, and no n x n matrix is ever materialised.
    """
    d_feat, n = xt.shape
    b = block[0]
    n_pad = -(-n // b) * b
    xt = jnp.pad(xt, ((0, 0), (0, n_pad - n)))
    oh = jnp.pad(_onehot_w(lab, w, n_clusters), ((0, n_pad - n), (0, 0)))  # (n_pad, K)
    nt = (n_valid + b - 1) // b

    def row(i, acc):
        xi = lax.dynamic_slice(xt, (0, i * b), (d_feat, b))
        ohi = lax.dynamic_slice(oh, (i * b, 0), (b, n_clusters))

        def col(j, st):
            acc, part = st
            xj = lax.dynamic_slice(xt, (0, j * b), (d_feat, b))
            ohj = lax.dynamic_slice(oh, (j * b, 0), (b, n_clusters))
            dij = _pdist_tile(xi, xj)
            part = part + dij @ ohj
            cj = lax.dynamic_slice(acc, (j * b, 0), (b, n_clusters))
            acc = lax.dynamic_update_slice(acc, cj + dij.T @ ohi, (j * b, 0))
            return acc, part

        part = _pdist_tile(xi, xi) @ ohi  # the diagonal tile
        acc, part = lax.fori_loop(i + 1, nt, col, (acc, part))
        ci = lax.dynamic_slice(acc, (i * b, 0), (b, n_clusters))
        return lax.dynamic_update_slice(acc, ci + part, (i * b, 0))

    acc = lax.fori_loop(0, nt, row, jnp.zeros((n_pad, n_clusters), xt.dtype))
    return acc[:n]


def silhouette_t(xt, w, labels, n_clusters: int, *, block=(128, 512), n_valid=None):
    """Mean silhouette coefficient, weighted: sum_i w_i s_i / sum_i w_i (Rousseeuw 1987).

    s_i = (b_i - a_i) / max(a_i, b_i) with a_i the mean distance to the other members of its
    cluster (sum over the cluster / (n_own - 1)) and b_i the lowest mean distance to another
    non-empty cluster. ``n_valid`` (dynamic int) promises that points from index n_valid on are
    absent, so their tiles are skipped (live channels compacted first).
    """
    n = xt.shape[1]
    w = jnp.where(labels >= 0, w, 0.0)
    lab = jnp.maximum(labels, 0)
    oh = _onehot_w(labels, w, n_clusters)
    cnt = jnp.sum(oh, axis=0)
    if isinstance(block, int):
        block = (block, block)
    block = (min(block[0], n), min(block[1], n))
    s = _distance_sums(xt, jnp.where(w > 0, labels, -1), w, n_clusters,
                       n if n_valid is None else n_valid, block)  # (n, K)
    n_own = cnt[lab]
    a = jnp.take_along_axis(s, lab[:, None], axis=1)[:, 0] / jnp.maximum(n_own - 1.0, 1e-30)
    other = (jnp.arange(n_clusters)[None, :] != lab[:, None]) & (cnt[None, :] > 0)
    mean_d = s / jnp.where(cnt > 0, cnt, 1.0)[None, :]
    b = jnp.min(jnp.where(other, mean_d, jnp.inf), axis=1)
    den = jnp.maximum(a, b)
    ok = (n_own > 1) & (den > 0) & jnp.isfinite(b) & (w > 0)
    sil = jnp.where(ok, (b - a) / jnp.where(ok, den, 1.0), 0.0)
    wsum = jnp.sum(w)
    score = jnp.sum(w * sil) / jnp.where(wsum > 0, wsum, 1.0)
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
    x, labels, weights=None, *, n_clusters: int | None = None, block: tuple[int, int] = (128, 512)
):
    """Silhouette, Calinski-Harabasz and Davies-Bouldin of one labelling (jit; ``vmap`` to batch).

    Args:
      x: float (n, D) points.  labels: int (n,) in [0, n_clusters), -1 = absent.
      weights: float (n,) non-negative or bool (n,) mask; default all ones.
      n_clusters: K (static); default max(labels) + 1 (needs concrete labels).
      block: silhouette tile (rows, cols); the tiles are square, of side rows.
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
