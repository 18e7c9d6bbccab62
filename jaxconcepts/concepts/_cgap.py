"""CGAP: Clustering based on General Activation Patterns (§3.2.1 of Lambert et al.).

Per image: the non-zero channels A_i (at least one non-zero value) of A (C x H x W), reshaped to
C x (H*W), are reduced by PCA to N - 1 dimensions and grouped into N concepts by k-means (Eq. 1).

The batch runs in one compiled program, one image at a time (``lax.map``). Each image's live
channels are compacted to the front and the image goes to the smallest of a few fixed padded
sizes (``bucket_sizes``, by default one per 512 channels) that holds them: PCA, k-means,
sub-concepts and the three metrics run on that many rows only, so dead channels cost nothing
(``lax.switch``: one branch per size, compiled once, the same program for every batch). Inside a
bucket, the two quadratic-or-wide products (the silhouette's distances, the PCA covariance) cut
the rows again, at multiples of ``block[0] // 4``. The PCA covariance is the (H*W) x (H*W) Gram
matrix of the centred live rows.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ..kernels import (
    calinski_harabasz_t,
    davies_bouldin_t,
    group_pca_scores_t,
    kmeans_t,
    pca_fit,
    pca_transform_t,
    prefix_sizes,
    prefix_switch,
    silhouette_t,
    sort_by_cluster_t,
)
from ._base import (
    Concepts,
    canonical_labels,
    image_keys,
    live_channels,
    make_flags,
    validate_batch,
)
from ._subconcepts import split_concepts

__all__ = ["cgap", "cgap_batch", "bucket_sizes", "default_n_buckets"]


def default_n_buckets(c: int, step: int) -> int:
    """One bucket per ``2 * step`` channels (step = ``block[0]``): 4 for C = 2048 at the default
    step 256, 1 for C <= 512. Measured in ``concepts.cgap``'s docstring."""
    return -(-c // (2 * step))


def bucket_sizes(c: int, n_buckets: int) -> tuple[int, ...]:
    """The padded sizes live channels are compacted into: ceil(c * i / n_buckets) rounded up to
    a multiple of 8 (capped at c), for i = 1 .. n_buckets, without repeats."""
    return tuple(sorted({min(c, -(-(-(-c * i // n_buckets)) // 8) * 8)
                         for i in range(1, n_buckets + 1)}))


def _bucket_floors(buckets: tuple[int, ...]) -> tuple[int, ...]:
    """Each bucket's floor: the size below it (0 for the first). An image in a bucket has more
    live channels than its floor, so the sizes up to it are never compiled inside the bucket."""
    return (0,) + buckets[:-1]


def _inner_step(step: int) -> int:
    """The covariance's and the silhouette's cut inside a bucket: ``block[0] // 4`` (>= 8)."""
    return max(8, step // 4)


def _compact_order(live):
    """Permutation putting live channels first (stable), by cumsum + scatter (no sort)."""
    c = live.shape[0]
    n_live = jnp.sum(live)
    pos = jnp.where(live, jnp.cumsum(live) - 1, n_live + jnp.cumsum(~live) - 1)
    return jnp.zeros((c,), jnp.int32).at[pos].set(jnp.arange(c, dtype=jnp.int32))


def _pca_scores(x, w, n_components, n_live=None, step=256, floor=0):
    """PCA scores (n_components, s) of the rows x (s, F) weighted by w (0 = absent; only the
    first ``n_live`` rows present when given, and ``n_live > floor``)."""
    comps, mean, _, _ = pca_fit(x, w, n_components, n_rows=n_live, step=step, floor=floor)
    return pca_transform_t(x, w, comps, mean)


def _main_concepts(pt, w, key, max_iter, tol, *, n_concepts, n_init):
    """k-means of the PCA scores pt (D, s): canonical labels (s,), concepts found, inertia."""
    # continuous PCA scores: exact E-step ties have probability 0, so the cheaper lowest-index rule
    res = kmeans_t(pt, w, key, n_clusters=n_concepts, n_init=n_init, max_iter=max_iter, tol=tol,
                   ties="first", sequential=True)
    lab, n_found = canonical_labels(res.labels, w, n_concepts)
    return lab, n_found, res.inertia


def _sub_concepts(x, w, lab, key, max_iter, tol, *, n_concepts, n_sub, n_init, step):
    """CGAP re-applied to each concept's members (PCA to S - 1, k-means S).

    Every concept's PCA is fitted on its own members, all in one pass over the rows
    (:func:`group_pca_scores_t`: each row scored on its own concept's components). The rows are
    then counting-sorted by concept, and each concept's k-means runs on its own members only: a
    window of the sorted rows of step, 2 step, 4 step, ... rows, the smallest holding them (the
    concepts one after the other, ``lax.map``). The same k-means, with the same key, as on every
    row with the other concepts' rows weighted 0, at ~1/K of the cost.
    """
    if n_sub == 0:
        return split_concepts(None, lab, w, key, n_concepts=n_concepts, n_sub_concepts=0)
    p2 = group_pca_scores_t(x, w, lab, n_concepts, max(n_sub - 1, 1))
    d, s = p2.shape
    ps, ws, ls, _, start, pos = sort_by_cluster_t(p2, w, lab, n_concepts)
    ps, ws = jnp.pad(ps, ((0, 0), (0, s))), jnp.pad(ws, (0, s))  # windows never run off the end

    def one(args):
        l, k = args
        lo, cnt = start[l], start[l + 1] - start[l]

        def run(m, k):
            xl = lax.dynamic_slice(ps, (0, lo), (d, m))
            wl = lax.dynamic_slice(ws, (lo,), (m,)) * (jnp.arange(m) < cnt)
            sub = kmeans_t(xl, wl, k, n_clusters=n_sub, n_init=n_init, max_iter=max_iter,
                           tol=tol, ties="first", sequential=True).labels
            sub, n_found = canonical_labels(sub, wl, n_sub)
            return jnp.pad(sub, (0, s - m), constant_values=-1), n_found

        return prefix_switch(cnt, prefix_sizes(s, step, doubling=True), run, k)

    subs, n_found = lax.map(one, (jnp.arange(n_concepts), jax.random.split(key, n_concepts)))
    lq = jnp.maximum(ls, 0)  # sorted row q is row q - start[l] of its concept l's window
    sub_sorted = jnp.where(ls >= 0, subs[lq, jnp.arange(s) - start[lq]], -1)
    return jnp.where(lab >= 0, sub_sorted[pos], -1).astype(jnp.int32), n_found


def _metrics(pt, w, lab, *, n_concepts, block, floor=0):
    """Silhouette, Calinski-Harabasz, Davies-Bouldin (3,) of the labels on the PCA scores."""
    return jnp.stack([
        silhouette_t(pt, w, lab, n_concepts, block=block, floor=floor),
        calinski_harabasz_t(pt, w, lab, n_concepts),
        davies_bouldin_t(pt, w, lab, n_concepts),
    ])


def _image_bucket(x, w, key, max_iter, tol, n_live, *, n_concepts, n_components, n_sub, n_init,
                  block, floor):
    """CGAP of one image's compacted rows x (s, F), weights w (s,) (live first, then 0), with
    ``floor`` < n_live (the bucket below).

    Returns (labels, sub-labels) (s,), concepts found, sub-concepts (K,), inertia, metrics (3,).
    """
    k_main, k_sub = jax.random.split(key)
    step = block[0]
    fine = _inner_step(step)
    pt = _pca_scores(x, w, n_components, n_live, fine, floor)
    lab, n_found, inertia = _main_concepts(pt, w, k_main, max_iter, tol, n_concepts=n_concepts,
                                           n_init=n_init)
    sub, n_sub_found = _sub_concepts(x, w, lab, k_sub, max_iter, tol, n_concepts=n_concepts,
                                     n_sub=n_sub, n_init=n_init, step=step)
    met = _metrics(pt, w, lab, n_concepts=n_concepts, block=(fine, block[1]), floor=floor)
    return lab, sub, n_found, n_sub_found, inertia, met


@partial(
    jax.jit,
    static_argnames=("n_concepts", "n_components", "n_sub", "n_init", "buckets", "block"),
)
def cgap_batch(A, mask, keys, max_iter, tol, *, n_concepts, n_components, n_sub, n_init, buckets,
               block):
    """CGAP on validated input: A (B, C, H, W) float, mask (B, C) bool, keys (B,), max_iter and
    tol traced scalars, ``buckets`` the padded sizes (ascending, the last = C) -> Concepts."""
    b, c, h, wd = A.shape
    A = A.reshape(b, c, h * wd)  # inside the jit: a free bitcast (eagerly, a copy of the batch)
    sizes = jnp.asarray(buckets, jnp.int32)
    kw = dict(n_concepts=n_concepts, n_components=n_components, n_sub=n_sub, n_init=n_init,
              block=block)

    def branch(s, below):
        def run(a, lv, order, key, n_live):
            idx = order[:s]
            x = a[idx]
            w = lv[idx].astype(a.dtype)
            lab, sub, *rest = _image_bucket(x, w, key, max_iter, tol, n_live, floor=below, **kw)
            full = jnp.full((2, c), -1, jnp.int32).at[:, idx].set(jnp.stack([lab, sub]))
            return (full[0], full[1], *rest)

        return run

    def one(args):
        a, m, key = args
        lv = live_channels(a, m)  # on the image's copy the loop made, while it is in cache
        n_live = jnp.sum(lv).astype(jnp.int32)
        order = _compact_order(lv)
        which = jnp.sum(sizes < n_live)  # the smallest bucket holding every live channel
        labels, sub, n_found, n_sub_found, inertia, met = lax.switch(
            which, [branch(s, below) for s, below in zip(buckets, _bucket_floors(buckets))], a,
            lv, order, key, n_live)
        return (labels, sub, n_found, n_sub_found, make_flags(n_found, n_live, n_concepts),
                met.astype(jnp.float32), inertia)

    return Concepts(*lax.map(one, (A, mask, keys)))


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
    n_buckets: int | None = None,
    block: tuple[int, int] = (256, 2048),
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
        iteration cap, and tolerance relative to the mean feature variance. ``max_iter`` and
        ``tol`` are traced: changing them does not recompile.
      n_buckets: number of padded sizes for the live channels (:func:`bucket_sizes`); default
        None: one per ``2 * block[0]`` channels (:func:`default_n_buckets`: 4 for C = 2048, 1
        for C <= 512). More buckets waste fewer rows but compile more branches. On 256
        synthetic 2048-channel images (~52 % live, 2 CPU devices, one process), 4 buckets ran
        ~3 % faster than 2 (~6 % with 3 sub-concepts) and took ~1.4x their compile time (~2x
        with sub-concepts); 8 and 16 buckets ran within 3 % of 4 and took ~1.8x and ~3.4x its
        compile time.
      block: (size step, rows per product). Inside its bucket, an image's PCA covariance and
        silhouette take only the smallest multiple of ``step // 4`` rows above the bucket below
        that holds the live channels; each concept's sub-concept k-means the smallest of step,
        2 step, 4 step, ... that holds its members (:func:`~jaxconcepts.kernels.prefix_switch`);
        the silhouette forms its distance matrix ``rows`` rows at a time.
    Returns: :class:`Concepts`; metrics are computed on the PCA scores k-means clustered.
    Raises: ValueError / TypeError naming the bad argument.
    """
    A, mask, index, key = validate_batch(
        A, mask, index, key, n_concepts=n_concepts, n_sub_concepts=n_sub_concepts,
        n_init=n_init, max_iter=max_iter, tol=tol,
    )
    b, c, h, wd = A.shape
    if n_components is None:
        n_components = n_concepts - 1
    if not isinstance(n_components, int) or not 1 <= n_components <= h * wd:
        raise ValueError(f"n_components={n_components!r} should be an int in [1, H*W={h * wd}]")
    if not (isinstance(block, tuple) and len(block) == 2 and all(isinstance(b, int) and b >= 8
                                                               for b in block)):
        raise ValueError(f"block={block!r} should be a tuple (step, rows) of ints >= 8")
    if n_buckets is None:
        n_buckets = default_n_buckets(c, block[0])
    if not isinstance(n_buckets, int) or isinstance(n_buckets, bool) or n_buckets < 1:
        raise ValueError(f"n_buckets={n_buckets!r} should be an int >= 1 or None")
    return cgap_batch(
        A, mask, image_keys(key, index), jnp.int32(max_iter),
        jnp.float32(tol), n_concepts=n_concepts, n_components=n_components, n_sub=n_sub_concepts,
        n_init=n_init, buckets=bucket_sizes(c, n_buckets), block=block,
    )
