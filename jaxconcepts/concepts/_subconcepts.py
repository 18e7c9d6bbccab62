"""Sub-concepts (§3.2.1 of Lambert et al.): re-apply the method to the members of each concept.

"The large clusters composing C_l can be divided into sub-clusters C_l^sub by iteratively applying
the clustering algorithm K [...] the maximum number of sub-clusters is arbitrarily limited to 3."
Every concept of an image is split with S = ``n_sub_concepts`` clusters, each split on a masked copy
of the image's points, either all at once (``vmap`` over the K concepts: best for a few points, as
CPHA's grid) or one after the other (``sequential``, a ``lax.map``: under ``vmap`` each k-means
runs as many Lloyd iterations as the slowest concept and its conditional branches, such as the
empty-cluster relocation, run every iteration, ~3x the work on CGAP's ~1000 channels). Both give
the same result. A concept with fewer than S distinct members gets fewer sub-concepts.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from ._base import canonical_labels

__all__ = ["split_concepts"]


def split_concepts(
    cluster_fn: Callable, labels, w, key, *, n_concepts: int, n_sub_concepts: int,
    sequential: bool = False,
):
    """Split each concept of one image into up to S sub-concepts.

    Args:
      cluster_fn: ``(weights (n,), key) -> labels (n,)`` in [0, S) (-1 where weight 0), the
        method applied to a subset of the points (the members of one concept).
      labels: int32 (n,) concept of each point, -1 absent.  w: float (n,) point weights.
      sequential: split the concepts one after the other (``lax.map``) instead of ``vmap``.
    Returns: sub_labels int32 (n,) in [0, S) or -1, n_sub int32 (K,) non-empty sub-concepts.
    """
    if n_sub_concepts == 0:
        return jnp.full(labels.shape, -1, jnp.int32), jnp.zeros((n_concepts,), jnp.int32)

    def one(l, k):
        wl = jnp.where(labels == l, w, 0.0)
        sub = cluster_fn(wl, k)
        return canonical_labels(sub, wl, n_sub_concepts)

    ls, ks = jnp.arange(n_concepts), jax.random.split(key, n_concepts)
    if sequential:
        subs, n_sub = lax.map(lambda a: one(*a), (ls, ks))
    else:
        subs, n_sub = jax.vmap(one)(ls, ks)
    n = labels.shape[0]
    sub = subs[jnp.maximum(labels, 0), jnp.arange(n)]
    return jnp.where(labels >= 0, sub, -1).astype(jnp.int32), n_sub
