"""Masked PCA for one example (covariance + ``eigh``), batched with ``vmap``.

The mean and covariance are weighted by a mask (or non-negative weights), so padded or dead rows
never change the result. Components follow scikit-learn's sign convention (``svd_flip`` with
``u_based_decision=False``): the entry of largest absolute value in each component is positive.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._prefix import prefix_sizes, prefix_switch

__all__ = ["PCAResult", "pca", "pca_fit", "pca_transform_t", "top_components",
           "group_pca_scores_t"]


class PCAResult(NamedTuple):
    """components (k, F) orthonormal rows; mean (F,); explained_variance (k,) with the n-1
    denominator of scikit-learn; explained_variance_ratio (k,); scores_t (k, n): the projection of
    every row (0 for absent rows), transposed so that it feeds the k-means kernel directly."""

    components: jax.Array
    mean: jax.Array
    explained_variance: jax.Array
    explained_variance_ratio: jax.Array
    scores_t: jax.Array


def _top_eigh(cov, k: int, n_iter: int, oversample: int):
    """Top-k eigenpairs of a symmetric PSD matrix (F, F), descending.

    For F <= 48 (or when the block covers F) this is LAPACK ``eigh``; above that, subspace
    iteration on cov^2 with a block of k + oversample vectors and a Rayleigh-Ritz step (Halko et
    al. 2011, Alg. 4.4 with the final small ``eigh``). A 64 x 64 ``eigh`` in XLA on the CPU costs
    ~100x a 48 x 48 one, while 4 iterations here reach |cos| > 1 - 1e-6 with the principal
    subspace on activation covariances (the error shrinks as (l_{p+1} / l_k)^(2 n_iter)).
    """
    f = cov.shape[0]
    p = min(f, k + oversample)
    if f <= 48 or p >= f:
        evals, evecs = jnp.linalg.eigh(cov)
        return evals[::-1][:k], evecs[:, ::-1][:, :k], jnp.trace(cov)
    scale = jnp.trace(cov)
    c = cov / jnp.where(scale > 0, scale, 1.0)
    c2 = c @ c
    # A fixed, deterministic start (the same for every image): a cosine basis spread over F.
    q = jnp.cos(jnp.pi * (jnp.arange(f)[:, None] + 0.5) * jnp.arange(p)[None, :] / f)
    q = q + 0.1 * jnp.sin(1.7 * jnp.arange(f)[:, None] * (jnp.arange(p)[None, :] + 1.3))
    q, _ = jnp.linalg.qr(q.astype(cov.dtype))
    q = lax.fori_loop(0, n_iter, lambda i, q: jnp.linalg.qr(c2 @ q)[0], q)
    h = q.T @ c @ q
    h = 0.5 * (h + h.T)
    ev, u = jnp.linalg.eigh(h)
    ev = ev[::-1][:k] * scale
    vec = q @ u[:, ::-1][:, :k]
    return ev, vec, scale


def pca_fit(x, w, n_components: int, *, n_iter: int = 4, oversample: int = 8, n_rows=None,
            step: int = 256, floor: int = 0):
    """Fit PCA on rows of ``x`` (n, F) weighted by ``w`` (n,).

    Returns (components (k, F), mean (F,), explained variance (k,), explained variance ratio).

    The covariance is sum_i w_i (x_i - mu)(x_i - mu)^T / (sum_i w_i - 1) (Pearson 1901; the
    estimator scikit-learn reports as ``explained_variance_``). No validation.

    ``n_rows`` (int, may be traced): every row from ``n_rows`` on has weight 0 (compacted
    input). The covariance's product then takes the rows up to the smallest multiple of
    ``step`` holding ``n_rows`` (:func:`~._prefix.prefix_switch`; under ``vmap`` every branch
    would run, so leave ``n_rows`` None there): padding rows cost next to nothing. ``floor``:
    ``n_rows`` is known to exceed it, and smaller sizes are not compiled.
    """
    wsum = jnp.sum(w)
    mean = (w @ x) / jnp.maximum(wsum, 1e-30)
    xs = (x - mean) * jnp.sqrt(jnp.maximum(w, 0.0))[:, None]  # one pass over x, then one matmul
    if n_rows is None:
        raw = xs.T @ xs
    else:
        raw = prefix_switch(n_rows, prefix_sizes(xs.shape[0], step, floor=floor),
                            lambda m, xs: xs[:m].T @ xs[:m], xs)
    cov = raw / jnp.maximum(wsum - 1.0, 1.0)
    evals, evecs, total = _top_eigh(cov, n_components, n_iter, oversample)
    evals = jnp.maximum(evals, 0.0)
    comps = _finish_components(evecs)  # (k, F), svd_flip(u_based_decision=False) signs
    ratio = evals / jnp.where(total > 0, total, 1.0)
    return comps, mean, evals, ratio


def pca_transform_t(x, w, comps, mean):
    """Scores transposed, (k, n): comps @ (x - mean)^T, 0 for rows with w == 0."""
    return (comps @ x.T - (comps @ mean)[:, None]) * (w > 0)[None, :]


@partial(jax.jit, static_argnames=("n_components",))
def _pca_jit(x, w, *, n_components):
    comps, mean, var, ratio = pca_fit(x, w, n_components)
    return PCAResult(comps, mean, var, ratio, pca_transform_t(x, w, comps, mean))


def pca(x, mask=None, *, n_components: int) -> PCAResult:
    """Principal component analysis of one example's rows, mask-aware (jit; ``vmap`` for a batch).

    Args:
      x: float (n, F) rows (channels) by features (H*W positions).
      mask: bool (n,) or non-negative weights (n,); absent rows do not count. Default all rows.
      n_components: k, 1 <= k <= F.
    Returns: :class:`PCAResult`.
    Raises: ValueError / TypeError for bad shapes, dtypes or n_components.
    """
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x should have shape (n, F), got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"x should be a floating array, got dtype {x.dtype}")
    if not isinstance(n_components, int) or not 1 <= n_components <= x.shape[1]:
        raise ValueError(f"n_components={n_components!r} should be an int in [1, {x.shape[1]}]")
    if mask is None:
        w = jnp.ones((x.shape[0],), x.dtype)
    else:
        w = jnp.asarray(mask)
        if w.shape != (x.shape[0],):
            raise ValueError(f"mask should have shape ({x.shape[0]},), got shape {w.shape}")
        w = w.astype(x.dtype)
    return _pca_jit(x, w, n_components=n_components)


@partial(jax.jit, static_argnames="k")
def top_components(X, *, k: int):
    """Exact top-k right singular vectors ``(k, c)`` and singular values ``(k,)`` of ``X``
    ``(m, c)``.

    For rows that are already centred (zero rows may pad ``X``: they change neither). Eigen-
    decomposition of the smaller Gram matrix (``X Xᵀ`` when ``m ≤ c``, else ``Xᵀ X``): several times
    faster than XLA's CPU SVD for tall-or-wide matrices, and exact where :func:`pca_fit`'s subspace
    iteration (F > 48) is approximate. Signs are ``eigh``'s. Used by the per-class PCA baseline of
    the C2MF paper (:mod:`jaxconcepts.concepts._pca_baseline`).
    """
    m, c = X.shape
    if m <= c:
        lam, V = jnp.linalg.eigh(X @ X.T)  # ascending
        lam, V = lam[::-1][:k], V[:, ::-1][:, :k]
        s = jnp.sqrt(jnp.maximum(lam, 0.0))
        vt = (V.T @ X) / jnp.where(s > 0, s, 1.0)[:, None]
        vt = vt / jnp.maximum(jnp.linalg.norm(vt, axis=1, keepdims=True), 1e-30)
    else:
        lam, V = jnp.linalg.eigh(X.T @ X)
        lam, vt = lam[::-1][:k], V[:, ::-1][:, :k].T
        s = jnp.sqrt(jnp.maximum(lam, 0.0))
    return vt, s


def _finish_components(evecs):
    """(F, k) eigenvectors -> (k, F) components with scikit-learn's ``svd_flip`` signs."""
    comps = evecs.T
    idx = jnp.argmax(jnp.abs(comps), axis=1)
    signs = jnp.sign(jnp.take_along_axis(comps, idx[:, None], axis=1))
    return comps * jnp.where(signs == 0, 1.0, signs)


def group_pca_scores_t(x, w, labels, n_groups: int, n_components: int, *, tile: int = 64,
                       n_iter: int = 4, oversample: int = 8):
    """PCA of each group of rows, every row projected on its own group's components.

    The same as :func:`pca_fit` + :func:`pca_transform_t` on ``x`` weighted by
    ``where(labels == g, w, 0)``, for every group g at once, at the cost of about one covariance:
    the present rows are counting-sorted by group into a buffer where each group starts on a
    ``tile``-row boundary, so every tile belongs to one group, and a loop over the used tiles
    only (not the padding) adds each tile's Gram matrix to its group's covariance. The
    covariances are centred on the mean of all present rows, then corrected to each group's mean.

    Args: x (n, F); w (n,) weights (0 = absent); labels int (n,) in [0, G) or -1 (absent).
    Returns: scores_t (k, n), 0 for absent rows.
    """
    n, f = x.shape
    present = (labels >= 0) & (w > 0)
    wl = jnp.where(present, w, 0.0)
    oh = labels[:, None] == jnp.arange(n_groups)[None, :]  # (n, G)
    ohw = oh * wl[:, None]
    cnt = jnp.sum(ohw, axis=0)  # (G,) weights
    mu = (wl @ x) / jnp.maximum(jnp.sum(wl), 1e-30)
    xc = x - mu
    delta = (ohw.T @ xc) / jnp.where(cnt > 0, cnt, 1.0)[:, None]  # (G, F) group means - mu
    # counting sort into tile-aligned group segments
    ohp = oh & present[:, None]
    n_rows = jnp.sum(ohp, axis=0, dtype=jnp.int32)  # (G,)
    n_tiles = (n_rows + tile - 1) // tile
    first_tile = jnp.cumsum(n_tiles) - n_tiles  # (G,)
    rank = jnp.sum(jnp.where(ohp, jnp.cumsum(ohp, axis=0, dtype=jnp.int32), 0), axis=1) - 1
    lab = jnp.clip(labels, 0, n_groups - 1)
    total = -(-(n + n_groups * (tile - 1)) // tile)  # tiles the buffer can need
    pos = jnp.where(present, first_tile[lab] * tile + rank, total * tile)
    rows = xc * jnp.sqrt(wl)[:, None]
    buf = jnp.zeros((total * tile, f), x.dtype).at[pos].set(rows, mode="drop")
    tile_ids = jnp.arange(total)
    tile_group = jnp.sum(tile_ids[:, None] >= (first_tile + n_tiles)[None, :], axis=1)

    def add_tile(j, cov):
        t = lax.dynamic_slice(buf, (j * tile, 0), (tile, f))
        g = tile_group[j]
        return lax.dynamic_update_index_in_dim(cov, cov[g] + t.T @ t, g, 0)

    raw = lax.fori_loop(0, jnp.sum(n_tiles), add_tile, jnp.zeros((n_groups, f, f), x.dtype))
    cov = raw - cnt[:, None, None] * delta[:, :, None] * delta[:, None, :]
    cov = cov / jnp.maximum(cnt - 1.0, 1.0)[:, None, None]
    _, evecs, _ = jax.vmap(lambda c: _top_eigh(c, n_components, n_iter, oversample))(cov)
    comps = jax.vmap(_finish_components)(evecs)  # (G, k, F)
    proj = xc @ comps.reshape(n_groups * n_components, f).T  # (n, G*k)
    proj = proj.reshape(n, n_groups, n_components) - jnp.einsum("gkf,gf->gk", comps, delta)[None]
    own = jnp.sum(jnp.where(oh[:, :, None], proj, 0.0), axis=1)  # (n, k)
    return (own * present[:, None]).T
