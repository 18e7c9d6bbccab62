"""CPHA: Clustering based on the Position of High Activations (§3.2.2 of Lambert et al.).

Coord_i = argmax A_i (Eq. 2), as (row, col), for every non-zero channel; k-means groups the
coordinates into N concepts. The coordinates take at most H*W distinct values, so k-means and
all three metrics run on the weighted grid of positions, each weighted by the number of live
channels whose maximum lies there. This is exact: a weighted point is that many coincident points
for the k-means objective, the Lloyd updates, the metrics and the k-means++ sampling distribution
(tests/concepts check it against clustering the C raw points). ``argmax`` takes the first maximum
in row-major order, like ``numpy.argmax``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ..kernels import calinski_harabasz_t, davies_bouldin_t, kmeans_t, silhouette_t
from ._base import Concepts, _divisor, canonical_labels, image_keys, make_flags, validate_batch
from ._subconcepts import split_concepts

__all__ = ["cpha", "cpha_batch", "argmax_coords", "grid_weights"]


def argmax_coords(A):
    """Coord_i of Eq. 2 for every channel: int32 (..., C, 2) as (row, col) of the first maximum."""
    h, w = A.shape[-2:]
    idx = jnp.argmax(A.reshape(*A.shape[:-2], h * w), axis=-1)
    return jnp.stack([idx // w, idx % w], axis=-1).astype(jnp.int32)


def grid_weights(idx, live, n_pos: int):
    """Number of live channels whose argmax is at each of the n_pos = H*W positions: (n_pos,)."""
    return jnp.zeros((n_pos,), jnp.float32).at[idx].add(live.astype(jnp.float32))


@partial(
    jax.jit,
    static_argnames=("n_concepts", "n_sub", "n_init", "max_iter", "tol", "group", "hw"),
)
def cpha_batch(A, mask, keys, *, n_concepts, n_sub, n_init, max_iter, tol, group, hw):
    """CPHA on validated input: A (B, C, H*W), mask (B, C), keys (B,), hw = (H, W) -> Concepts."""
    km = dict(n_init=n_init, max_iter=max_iter, tol=tol)
    h, wd = hw
    pos = jnp.arange(h * wd)
    grid = jnp.stack([pos // wd, pos % wd]).astype(jnp.float32)  # (2, H*W)

    def one(args):
        a, m, key = args
        k_main, k_sub = jax.random.split(key)
        live = m & jnp.any(a != 0, axis=1)
        idx = jnp.argmax(a, axis=1)  # first maximum, like numpy
        gw = grid_weights(idx, live, h * wd)
        res = kmeans_t(grid, gw, k_main, n_clusters=n_concepts, **km)
        glab, n_found = canonical_labels(res.labels, gw, n_concepts)
        sil = silhouette_t(grid, gw, glab, n_concepts, block=h * wd)
        ch = calinski_harabasz_t(grid, gw, glab, n_concepts)
        db = davies_bouldin_t(grid, gw, glab, n_concepts)
        gsub, n_sub_found = split_concepts(
            lambda wl, k: kmeans_t(grid, wl, k, n_clusters=n_sub, **km).labels,
            glab, gw, k_sub, n_concepts=n_concepts, n_sub_concepts=n_sub,
        )
        labels = jnp.where(live, glab[idx], -1)
        sub = jnp.where(live, gsub[idx], -1)
        n_live = jnp.sum(live).astype(jnp.int32)
        return (labels, sub, n_found, n_sub_found, make_flags(n_found, n_live, n_concepts),
                jnp.stack([sil, ch, db]).astype(jnp.float32), res.inertia)

    return Concepts(*lax.map(one, (A, mask, keys), batch_size=_divisor(A.shape[0], group)))


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
      n_init, max_iter, tol: k-means restarts, iteration cap, relative tolerance.
      group: images per ``vmap`` group inside the ``lax.map`` over the batch.
    Returns: :class:`Concepts`; metrics on the (row, col) coordinates, as the paper's Table 1.
    Raises: ValueError / TypeError naming the bad argument.
    """
    A, mask, index, key = validate_batch(
        A, mask, index, key, n_concepts=n_concepts, n_sub_concepts=n_sub_concepts,
        n_init=n_init, max_iter=max_iter, tol=tol, group=group,
    )
    b, c, h, wd = A.shape
    return cpha_batch(
        A.reshape(b, c, h * wd), mask, image_keys(key, index),
        n_concepts=n_concepts, n_sub=n_sub_concepts, n_init=n_init, max_iter=max_iter,
        tol=float(tol), group=group, hw=(h, wd),
    )
