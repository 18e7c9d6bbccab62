"""Sub-concepts (§3.2.1 of Lambert et al.): re-apply the method to the members of each concept.

"The large clusters composing C_l can be divided into sub-clusters C_l^sub by iteratively applying
the clustering algorithm K [...] the maximum number of sub-clusters is arbitrarily limited to 3."
Every concept of an image is split at once (``vmap`` over the K concepts, each a masked copy of the
image's points), with S = ``n_sub_concepts`` clusters; a concept with fewer than S distinct members
gets fewer sub-concepts.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from ._base import canonical_labels

__all__ = ["split_concepts"]


def split_concepts(
    cluster_fn: Callable, labels, w, key, *, n_concepts: int, n_sub_concepts: int
):
    """Split each concept of one image into up to S sub-concepts.

    Args:
      cluster_fn: ``(weights (n,), key) -> labels (n,)`` in [0, S) (-1 where weight 0), the
        method applied to a subset of the points (the members of one concept).
      labels: int32 (n,) concept of each point, -1 absent.  w: float (n,) point weights.
    Returns: sub_labels int32 (n,) in [0, S) or -1, n_sub int32 (K,) non-empty sub-concepts.
    """
    if n_sub_concepts == 0:
        return jnp.full(labels.shape, -1, jnp.int32), jnp.zeros((n_concepts,), jnp.int32)

    def one(l, k):
        wl = jnp.where(labels == l, w, 0.0)
        sub = cluster_fn(wl, k)
        return canonical_labels(sub, wl, n_sub_concepts)

    subs, n_sub = jax.vmap(one)(jnp.arange(n_concepts), jax.random.split(key, n_concepts))
    n = labels.shape[0]
    sub = subs[jnp.maximum(labels, 0), jnp.arange(n)]
    return jnp.where(labels >= 0, sub, -1).astype(jnp.int32), n_sub
