"""CGAP: Clustering based on General Activation Patterns (§3.2.1 of Lambert et al.).

Per image: the non-zero channels A_i (at least one non-zero value) of A (C x H x W), reshaped to
C x (H*W), are reduced by PCA to N - 1 dimensions and grouped into N concepts by k-means (Eq. 1).
The batch runs in one compiled program: PCA on images in groups of ``group`` (``lax.map`` with a
``vmap`` inside), k-means one image at a time, dead channels masked, live channels compacted to
the front so the O(C^2) silhouette skips the dead ones.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ..kernels import (
    calinski_harabasz_t,
    davies_bouldin_t,
    kmeans_t,
    pca_fit,
    pca_transform_t,
    silhouette_t,
)
from ._base import Concepts, _divisor, canonical_labels, image_keys, make_flags, validate_batch
from ._subconcepts import split_concepts

__all__ = ["cgap", "cgap_batch"]


def _compact_order(live):
    """Permutation putting live channels first (stable), by cumsum + scatter (no sort)."""
    c = live.shape[0]
    n_live = jnp.sum(live)
    pos = jnp.where(live, jnp.cumsum(live) - 1, n_live + jnp.cumsum(~live) - 1)
    return jnp.zeros((c,), jnp.int32).at[pos].set(jnp.arange(c, dtype=jnp.int32))


def _project_one(x, w, *, n_components):
    """PCA of one image, x (C, F) with live weights w (C,): scores (n_components, C) and weights
    with live channels compacted first (``order``) so the silhouette can skip the dead tail."""
    comps, mean, _, _ = pca_fit(x, w, n_components)
    pt_full = pca_transform_t(x, w, comps, mean)  # (n_components, C)
    order = _compact_order(w > 0)
    return order, pt_full[:, order], w[order]


def _cluster_one(x, w, key, order, pt, wc, *, n_concepts, n_sub, km):
    """k-means (+ sub-concepts) of one image's compacted PCA scores ``pt`` (D, C).

    Returns the labels compacted (``order``) and in the original order, and the sub-concept
    labels in the original order.
    """
    k_main, k_sub = jax.random.split(key)
    # continuous PCA scores: exact E-step ties have probability 0, so the cheaper lowest-index rule
    res = kmeans_t(pt, wc, k_main, n_clusters=n_concepts, ties="first", **km)
    labels_c, n_found = canonical_labels(res.labels, wc, n_concepts)
    labels = jnp.zeros_like(labels_c).at[order].set(labels_c)

    def sub_fn(wl, k):
        c2, m2, _, _ = pca_fit(x, wl, max(n_sub - 1, 1))
        p2 = pca_transform_t(x, wl, c2, m2)
        return kmeans_t(p2, wl, k, n_clusters=n_sub, ties="first", **km).labels

    sub, n_sub_found = split_concepts(
        sub_fn, labels, w, k_sub, n_concepts=n_concepts, n_sub_concepts=n_sub
    )
    return labels_c, labels, n_found, sub, n_sub_found, res.inertia


@partial(
    jax.jit,
    static_argnames=(
        "n_concepts", "n_components", "n_sub", "n_init", "max_iter", "tol", "group", "block",
    ),
)
def cgap_batch(A, mask, keys, *, n_concepts, n_components, n_sub, n_init, max_iter, tol, group,
               block):
    """CGAP on validated input: A (B, C, F) float, mask (B, C) bool, keys (B,) -> Concepts."""
    km = dict(n_init=n_init, max_iter=max_iter, tol=tol)

    def phase0(args):
        a, m = args
        w = (m & jnp.any(a != 0, axis=1)).astype(a.dtype)
        order, pt, wc = _project_one(a, w, n_components=n_components)
        return w, order, pt, wc

    # PCA in vmapped groups; k-means one image at a time (plain ``lax.map``), where its
    # ``while_loop`` stops at the image's own iteration count and the empty-cluster ``cond`` is a
    # real branch (under ``vmap`` both would run for the whole group: ~3x slower).
    w, order, pt, wc = lax.map(phase0, (A, mask), batch_size=_divisor(A.shape[0], group))

    def phase1(args):
        a, w, key, order, pt, wc = args
        lab_c, lab, n_found, sub, n_sub_found, inertia = _cluster_one(
            a, w, key, order, pt, wc, n_concepts=n_concepts, n_sub=n_sub, km=km
        )
        ch = calinski_harabasz_t(pt, wc, lab_c, n_concepts)
        db = davies_bouldin_t(pt, wc, lab_c, n_concepts)
        return lab_c, lab, n_found, sub, n_sub_found, inertia, ch, db

    lab_c, labels, n_found, sub_labels, n_sub_found, inertia, ch, db = lax.map(
        phase1, (A, w, keys, order, pt, wc)
    )
    n_live = jnp.sum(wc > 0, axis=1).astype(jnp.int32)
    # The O(C^2) silhouette two images at a time: its tile loops stop at the images' live count.
    sil = lax.map(
        lambda a: silhouette_t(a[0], a[1], a[2], n_concepts, block=block, n_valid=a[3]),
        (pt, wc, lab_c, n_live),
        batch_size=_divisor(A.shape[0], 2),
    )
    return Concepts(
        labels=labels,
        sub_labels=sub_labels,
        n_concepts=n_found,
        n_sub_concepts=n_sub_found,
        flags=make_flags(n_found, n_live, n_concepts),
        metrics=jnp.stack([sil, ch, db], axis=1).astype(jnp.float32),
        inertia=inertia,
    )


def cgap(
    A,
    mask=None,
    *,
    key,
    index=None,
    n_concepts: int = 5,
    n_components: int | None = None,
    n_sub_concepts: int = 3,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    group: int = 4,
    block: tuple[int, int] = (128, 512),
) -> Concepts:
    """Concepts of a batch of images by CGAP (§3.2.1, Eq. 1 of Lambert et al.).

    Args:
      A: float (B, C, H, W) activations.
      mask: bool (B, C) channels allowed to take part (default all); a channel also needs at
        least one non-zero value.
      key: the run's PRNG key; image b uses ``fold_in(key, index[b])``.
      index: int (B,) global image ids (default ``arange(B)``); pass the store's ids so that an
        image's result does not depend on its batch.
      n_concepts: N, number of concepts (paper default 5).
      n_components: PCA dimensions (default N - 1, the paper's choice), <= H*W.
      n_sub_concepts: S, sub-concepts per concept (paper: 3); 0 disables the split.
      n_init, max_iter, tol: k-means restarts (1 = scikit-learn's "auto" for k-means++), Lloyd
        iteration cap, and tolerance relative to the mean feature variance.
      group: images per ``vmap`` group of the PCA step inside the ``lax.map`` over the batch
        (memory vs speed); k-means runs one image at a time (its loops stop per image).
      block: silhouette tile (rows, cols); the tiles are square, of side rows.
    Returns: :class:`Concepts`; metrics are computed on the PCA scores k-means clustered.
    Raises: ValueError / TypeError naming the bad argument.
    """
    A, mask, index, key = validate_batch(
        A, mask, index, key, n_concepts=n_concepts, n_sub_concepts=n_sub_concepts,
        n_init=n_init, max_iter=max_iter, tol=tol, group=group,
    )
    b, c, h, wd = A.shape
    if n_components is None:
        n_components = n_concepts - 1
    if not isinstance(n_components, int) or not 1 <= n_components <= h * wd:
        raise ValueError(f"n_components={n_components!r} should be an int in [1, H*W={h * wd}]")
    if not (isinstance(block, tuple) and len(block) == 2 and all(isinstance(b, int) and b >= 8
                                                               for b in block)):
        raise ValueError(f"block={block!r} should be a tuple (rows, cols) of ints >= 8")
    return cgap_batch(
        A.reshape(b, c, h * wd), mask, image_keys(key, index),
        n_concepts=n_concepts, n_components=n_components, n_sub=n_sub_concepts,
        n_init=n_init, max_iter=max_iter, tol=float(tol), group=group, block=block,
    )
