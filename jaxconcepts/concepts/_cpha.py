"""CPHA: Clustering based on the Position of High Activations (§3.2.2 of Lambert et al.).

Coord_i = argmax A_i (Eq. 2), as (row, col), for every non-zero channel; k-means groups the
coordinates into N concepts. The coordinates take at most H*W distinct values, so every step
after the argmax (k-means, sub-concepts and all three metrics) runs on the weighted grid of
positions, each weighted by the number of live channels whose maximum lies there. This is exact:
a weighted point is that many coincident points for the k-means objective, the Lloyd updates,
the metrics and the k-means++ sampling distribution (tests/concepts check it against clustering
the C raw points). ``argmax`` takes the first maximum in row-major order, like ``numpy.argmax``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ..kernels import calinski_harabasz_t, davies_bouldin_t, kmeans_t, silhouette_t
from ._base import (
    Concepts,
    _divisor,
    argmax_live,
    canonical_labels,
    image_keys,
    make_flags,
    validate_batch,
)
from ._subconcepts import split_concepts

__all__ = ["cpha", "cpha_batch", "grid_weights"]


def grid_weights(idx, live, n_pos: int):
    """Number of live channels whose argmax is at each of the n_pos = H*W positions.

    idx int (..., C), live bool (..., C) -> float32 (..., n_pos) (a scatter-add per batch row).
    """
    lead = idx.shape[:-1]
    flat_idx = idx.reshape(-1, idx.shape[-1])
    flat_live = live.reshape(flat_idx.shape).astype(jnp.float32)
    rows = jnp.arange(flat_idx.shape[0])[:, None]
    out = jnp.zeros((flat_idx.shape[0], n_pos), jnp.float32).at[rows, flat_idx].add(flat_live)
    return out.reshape(*lead, n_pos)


def _image_grid(grid, gw, key, max_iter, tol, *, n_concepts, n_sub, n_init):
    """CPHA of one image's weighted grid (2, H*W), weights gw: grid labels, sub-labels, counts,
    inertia and metrics (3,)."""
    km = dict(n_init=n_init, max_iter=max_iter, tol=tol)
    k_main, k_sub = jax.random.split(key)
    res = kmeans_t(grid, gw, k_main, n_clusters=n_concepts, **km)
    glab, n_found = canonical_labels(res.labels, gw, n_concepts)
    met = jnp.stack([
        silhouette_t(grid, gw, glab, n_concepts, block=grid.shape[1]),
        calinski_harabasz_t(grid, gw, glab, n_concepts),
        davies_bouldin_t(grid, gw, glab, n_concepts),
    ])
    gsub, n_sub_found = split_concepts(
        lambda wl, k: kmeans_t(grid, wl, k, n_clusters=n_sub, **km).labels,
        glab, gw, k_sub, n_concepts=n_concepts, n_sub_concepts=n_sub,
    )
    return glab, gsub, n_found, n_sub_found, res.inertia, met


@partial(jax.jit, static_argnames=("n_concepts", "n_sub", "n_init", "group"))
def cpha_batch(A, mask, keys, max_iter, tol, *, n_concepts, n_sub, n_init, group):
    """CPHA on validated input: A (B, C, H, W), mask (B, C), keys (B,), max_iter and tol traced
    scalars -> Concepts."""
    b, c, h, wd = A.shape
    A = A.reshape(b, c, h * wd)  # inside the jit: a free bitcast (eagerly, a copy of the batch)
    pos = jnp.arange(h * wd)
    grid = jnp.stack([pos // wd, pos % wd]).astype(jnp.float32)  # (2, H*W)
    idx, live = argmax_live(A, mask)  # (B, C) each, one pass over the batch
    gw = grid_weights(idx, live, h * wd)  # (B, H*W)

    def one(args):
        g, key = args
        return _image_grid(grid, g, key, max_iter, tol, n_concepts=n_concepts, n_sub=n_sub,
                           n_init=n_init)

    glab, gsub, n_found, n_sub_found, inertia, met = lax.map(
        one, (gw, keys), batch_size=_divisor(A.shape[0], group))
    # back from grid positions to channels
    labels = jnp.where(live, jnp.take_along_axis(glab, idx, axis=1), -1)
    sub = jnp.where(live, jnp.take_along_axis(gsub, idx, axis=1), -1)
    n_live = jnp.sum(live, axis=1).astype(jnp.int32)
    return Concepts(labels, sub, n_found, n_sub_found, make_flags(n_found, n_live, n_concepts),
                    met.astype(jnp.float32), inertia)


def cpha(
    A,
    mask=None,
    *,
    key,
    index=None,
    n_concepts: int = 5,
    n_sub_concepts: int = 3,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    group: int = 16,
) -> Concepts:
    """Concepts of a batch of images by CPHA (§3.2.2, Eq. 2 of Lambert et al.).

    Args:
      A: float (B, C, H, W) activations.
      mask: bool (B, C) channels allowed to take part (default all); a channel also needs at
        least one non-zero value.
      key: the run's PRNG key; image b uses ``fold_in(key, index[b])``.
      index: int (B,) global image ids (default ``arange(B)``).
      n_concepts: N (paper default 5).  n_sub_concepts: S (paper: 3); 0 disables the split.
      n_init, max_iter, tol: k-means restarts, iteration cap, relative tolerance (``max_iter``
        and ``tol`` are traced: changing them does not recompile).
      group: images per ``vmap`` group inside the ``lax.map`` over the grids.
    Returns: :class:`Concepts`; metrics on the (row, col) coordinates, as the paper's Table 1.
    Raises: ValueError / TypeError naming the bad argument.
    """
    A, mask, index, key = validate_batch(
        A, mask, index, key, n_concepts=n_concepts, n_sub_concepts=n_sub_concepts,
        n_init=n_init, max_iter=max_iter, tol=tol, group=group,
    )
    return cpha_batch(
        A, mask, image_keys(key, index), jnp.int32(max_iter), jnp.float32(tol),
        n_concepts=n_concepts, n_sub=n_sub_concepts, n_init=n_init, group=group,
    )
