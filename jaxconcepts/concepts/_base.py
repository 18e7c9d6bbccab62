"""What CGAP and CPHA share: the result type, input validation, per-image keys, canonical labels."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Concepts",
    "FLAG_FEW_CONCEPTS",
    "FLAG_ALL_ZERO",
    "image_keys",
    "canonical_labels",
    "validate_batch",
    "make_flags",
    "live_channels",
    "argmax_live",
]

FLAG_FEW_CONCEPTS = 1  # bit 0: fewer than n_concepts non-empty concepts
FLAG_ALL_ZERO = 2  # bit 1: every activation of the image is zero (no live channel)


class Concepts(NamedTuple):
    """Concepts of a batch of B images with C channels, K = n_concepts, S = n_sub_concepts.

    labels: int32 (B, C), concept of each channel in [0, n_concepts_found), -1 for dead channels
      (all zero, or masked out). Concepts are numbered by decreasing size (ties by k-means index).
    sub_labels: int32 (B, C), sub-concept within the parent concept in [0, S), -1 for dead
      channels (and everywhere when sub-concepts are disabled, S = 0).
    n_concepts: int32 (B,), number of non-empty concepts (< K when too few distinct channels).
    n_sub_concepts: int32 (B, K), number of non-empty sub-concepts of each concept (0 if empty).
    flags: int32 (B,), bit 0 = fewer than K concepts, bit 1 = all activations zero.
    metrics: float32 (B, 3), silhouette, Calinski-Harabasz, Davies-Bouldin of the concepts in the
      space k-means clustered (all 0 when fewer than 2 concepts: undefined, see ``flags``).
    inertia: float32 (B,), the k-means objective of the kept restart.
    """

    labels: jax.Array
    sub_labels: jax.Array
    n_concepts: jax.Array
    n_sub_concepts: jax.Array
    flags: jax.Array
    metrics: jax.Array
    inertia: jax.Array


@jax.jit
def image_keys(key, index):
    """Per-image keys fold_in(key, index[b]): an image's result never depends on its batch.

    Compiled: run eagerly, the ``vmap`` of ``fold_in`` dispatches op by op."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(index)


def canonical_labels(labels, w, n_clusters: int):
    """Renumber clusters by decreasing total weight (ties by old index); empty ones go last.

    labels (n,) in [0, K) or -1; returns (labels (n,), number of non-empty clusters).
    """
    cnt = jnp.stack([jnp.sum(jnp.where(labels == k, w, 0.0)) for k in range(n_clusters)])
    order = jnp.argsort(-cnt, stable=True)  # new -> old
    new_of_old = jnp.zeros((n_clusters,), jnp.int32).at[order].set(jnp.arange(n_clusters))
    out = jnp.where(labels >= 0, new_of_old[jnp.maximum(labels, 0)], -1)
    return out, jnp.sum(cnt > 0).astype(jnp.int32)


def live_channels(A, mask):
    """Channels with at least one non-zero value and allowed by ``mask``: bool (..., C).

    A (..., C, F), mask (..., C). ``max |a| > 0`` is one plain reduction (XLA's CPU code for
    ``any(a != 0)`` is several times slower); the inputs are finite (checked by the callers).
    """
    return mask & (jnp.max(jnp.abs(A), axis=-1) > 0)


def argmax_live(A, mask):
    """First position of the maximum of every channel and the live channels (Eq. 2).

    A (B, C, F), mask (B, C) -> (idx int32 (B, C), live bool (B, C)). ``argmax`` is the first
    maximum in row-major order, like ``numpy.argmax``. Written as a running comparison over the
    F positions, vectorised over the channels: XLA's CPU ``argmax`` (a variadic reduction) is
    ~5x slower on (C, 64) rows than this running comparison plus the separate ``max |a|``.
    """
    if A.shape[-1] > 256:  # long rows: the unrolled loop would only slow compilation down
        return jnp.argmax(A, axis=-1).astype(jnp.int32), live_channels(A, mask)
    best = A[..., 0]
    idx = jnp.zeros(best.shape, jnp.int32)
    for p in range(1, A.shape[-1]):
        v = A[..., p]
        up = v > best
        best = jnp.where(up, v, best)
        idx = jnp.where(up, p, idx)
    return idx, live_channels(A, mask)


def _divisor(b: int, group: int) -> int:
    """The largest divisor of the batch size b that is <= group (``lax.map`` then traces its
    body once: a remainder group would be a second copy to compile)."""
    return max(d for d in range(1, max(1, min(group, b)) + 1) if b % d == 0)


def make_flags(n_found, n_live, n_concepts: int):
    return (jnp.where(n_found < n_concepts, FLAG_FEW_CONCEPTS, 0) | jnp.where(
        n_live == 0, FLAG_ALL_ZERO, 0
    )).astype(jnp.int32)


def _check_int(name, v, lo):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
        raise ValueError(f"{name}={v!r} should be an int >= {lo}")
    return int(v)


def validate_batch(A, mask, index, key, *, n_concepts, n_sub_concepts, n_init, max_iter, tol,
                   group=None):
    """Check the public arguments of :func:`cgap` / :func:`cpha` (``group``: CPHA's only);
    returns jax arrays."""
    A = jnp.asarray(A)
    if A.ndim != 4:
        raise ValueError(f"A should have shape (B, C, H, W), got shape {A.shape}")
    if not jnp.issubdtype(A.dtype, jnp.floating):
        raise TypeError(f"A should be a floating array, got dtype {A.dtype}")
    b, c = A.shape[:2]
    if mask is None:
        mask = jnp.ones((b, c), bool)
    else:
        mask = jnp.asarray(mask)
        if mask.shape != (b, c):
            raise ValueError(f"mask should have shape (B, C) = {(b, c)}, got shape {mask.shape}")
        if mask.dtype != jnp.bool_:
            raise TypeError(f"mask should be a bool array, got dtype {mask.dtype}")
    if index is None:
        index = jnp.arange(b, dtype=jnp.int32)
    else:
        index = jnp.asarray(index)
        if index.shape != (b,):
            raise ValueError(f"index should have shape (B,) = ({b},), got shape {index.shape}")
        if not jnp.issubdtype(index.dtype, jnp.integer):
            raise TypeError(f"index should be an integer array, got dtype {index.dtype}")
        index = index.astype(jnp.int32)
    if key is None:
        raise ValueError("key is required: pass jax.random.key(seed)")
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != (2,) or key.dtype != jnp.uint32:
            raise TypeError(
                f"key should be a PRNG key (jax.random.key), got {key.dtype}{key.shape}"
            )
        key = jax.random.wrap_key_data(key)
    if key.shape != ():
        raise ValueError(f"key should be a single PRNG key, got shape {key.shape}")
    _check_int("n_concepts", n_concepts, 2)
    _check_int("n_sub_concepts", n_sub_concepts, 0)
    if n_sub_concepts == 1:
        raise ValueError("n_sub_concepts=1 should be 0 (disabled) or >= 2")
    _check_int("n_init", n_init, 1)
    _check_int("max_iter", max_iter, 1)
    if group is not None:
        _check_int("group", group, 1)
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol={tol!r} should be a float >= 0")
    return A, mask, index, key
