"""Concept maps: §3.4 of Lambert et al., batched in JAX.

A concept map is the element-wise sum of the concept's channel maps A_i (A_H x A_W), bilinearly
interpolated to the input size (``jax.image.resize``), then min-max normalised. A sub-concept map is
normalised with its **parent's** min and max, so sub-concepts are shown in proportion to the parent
(and never exceed 1: activations are non-negative, so a sub-concept's sum is below its parent's).

Maps are written for one image and vmapped over the batch. A constant map (empty concept, or all
zero activations) has max == min; its normalised map is defined as 0 everywhere.

This is the one home of the map math (pure JAX, no matplotlib): ``viz`` draws these maps and
``evaluation`` scores them against planted parts (:func:`group_maps`, :func:`upsample_maps`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts._checks import safe_div

__all__ = ["ConceptMaps", "concept_maps", "sub_concept_maps", "group_maps", "upsample_maps"]


class ConceptMaps(NamedTuple):
    """Normalised maps and the raw (pre-normalisation) min / max used.

    Attributes:
        maps: (B, K, Hi, Wi) float32 (or (B, K, S, Hi, Wi) for sub-concepts).
        lo: (B, K) min of each (parent) concept's upsampled summed map.
        hi: (B, K) max of each (parent) concept's upsampled summed map.
    """

    maps: jax.Array
    lo: jax.Array
    hi: jax.Array


def _summed(a, onehot):
    """(G, C) group membership @ (C, H, W) maps -> (G, H, W) element-wise sums."""
    c, h, w = a.shape
    return (onehot @ a.reshape(c, h * w)).reshape(-1, h, w)


def _upsample(x, size):
    return jax.image.resize(x, (x.shape[0], *size), method="bilinear")


def _normalise(x, lo, hi):
    """Min-max normalisation of (G, H, W) maps with per-map lo / hi (G,); constant maps -> 0."""
    return safe_div(x - lo[:, None, None], (hi - lo)[:, None, None])


def _concept_maps_one(a, labels, n_concepts, size):
    onehot = (labels[None, :] == jnp.arange(n_concepts)[:, None]).astype(a.dtype)  # (K, C)
    up = _upsample(_summed(a, onehot), size)  # (K, Hi, Wi)
    lo, hi = up.min((-2, -1)), up.max((-2, -1))
    return _normalise(up, lo, hi), lo, hi


def _sub_maps_one(a, labels, sub_labels, n_concepts, n_sub, size):
    k = jnp.arange(n_concepts)[:, None, None]
    s = jnp.arange(n_sub)[None, :, None]
    onehot = ((labels[None, None, :] == k) & (sub_labels[None, None, :] == s)).astype(a.dtype)
    _, lo, hi = _concept_maps_one(a, labels, n_concepts, size)
    up = _upsample(_summed(a, onehot.reshape(n_concepts * n_sub, -1)), size)
    up = up.reshape(n_concepts, n_sub, *size)
    return safe_div(up - lo[:, None, None, None], (hi - lo)[:, None, None, None]), lo, hi


@partial(jax.jit, static_argnames=("n_concepts", "size"))
def _concept_maps(a, labels, *, n_concepts, size):
    return jax.vmap(_concept_maps_one, in_axes=(0, 0, None, None))(a, labels, n_concepts, size)


@partial(jax.jit, static_argnames=("n_concepts", "n_sub", "size"))
def _sub_maps(a, labels, sub_labels, *, n_concepts, n_sub, size):
    return jax.vmap(_sub_maps_one, in_axes=(0, 0, 0, None, None, None))(
        a, labels, sub_labels, n_concepts, n_sub, size
    )


def _check(activations, labels, size, name="labels"):
    a, lab = np.shape(activations), np.shape(labels)
    if len(a) != 4:
        raise ValueError(f"activations should have shape (B, C, H, W), got shape {a}")
    if lab != a[:2]:
        raise ValueError(f"{name} should have shape (B, C)={a[:2]}, got shape {lab}")
    if not np.issubdtype(np.asarray(labels).dtype, np.integer):
        raise TypeError(f"{name} should be an integer array, got dtype {np.asarray(labels).dtype}")
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size should be (height, width) with positive entries, got {size}")
    return size


def concept_maps(activations, labels, *, n_concepts: int, size) -> ConceptMaps:
    """Normalised concept maps (§3.4): channel sum, bilinear upsampling, min-max normalisation.

    Args:
        activations: float (B, C, H, W).
        labels: int (B, C) concept per channel in [0, K), -1 for dead channels (ignored).
        n_concepts: K.
        size: (Hi, Wi) input size of the model.

    Returns:
        ``ConceptMaps`` with maps (B, K, Hi, Wi) in [0, 1], lo / hi (B, K).
    """
    size = _check(activations, labels, size)
    return ConceptMaps(
        *_concept_maps(
            jnp.asarray(activations, jnp.float32),
            jnp.asarray(labels, jnp.int32),
            n_concepts=int(n_concepts),
            size=size,
        )
    )


def sub_concept_maps(
    activations, labels, sub_labels, *, n_concepts: int, n_sub: int = 3, size
) -> ConceptMaps:
    """Sub-concept maps normalised with the parent concept's min and max (§3.4).

    ``maps[b, l, s] = (up(sum of sub-concept (l, s)'s channels) - lo[b, l]) / (hi - lo)[b, l]``
    where lo / hi are the min / max of the parent concept l's upsampled summed map. Values may fall
    below 0 where the parent's minimum is positive; renderers clip to [0, 1].

    Args:
        activations: float (B, C, H, W).
        labels: int (B, C) parent concept per channel, -1 dead.
        sub_labels: int (B, C) sub-concept per channel within its parent in [0, S), -1 dead.
        n_concepts: K.
        n_sub: S.
        size: (Hi, Wi).

    Returns:
        ``ConceptMaps`` with maps (B, K, S, Hi, Wi) and the parents' lo / hi (B, K).
    """
    size = _check(activations, labels, size)
    _check(activations, sub_labels, size, name="sub_labels")
    return ConceptMaps(
        *_sub_maps(
            jnp.asarray(activations, jnp.float32),
            jnp.asarray(labels, jnp.int32),
            jnp.asarray(sub_labels, jnp.int32),
            n_concepts=int(n_concepts),
            n_sub=int(n_sub),
            size=size,
        )
    )


def group_maps(activations, labels, *, n_groups: int):
    """Element-wise sum of each group's channel maps (§3.4): (B, C, h, w), (B, C) → (B, G, h, w).

    ``labels`` in [0, G) or -1 (channel belongs to no group). Empty groups give all-zero maps.
    """
    a = jnp.asarray(activations, jnp.float32)
    lab = jnp.asarray(labels)
    onehot = (lab[:, None, :] == jnp.arange(n_groups)[None, :, None]).astype(a.dtype)
    return jax.vmap(_summed)(a, onehot)


def _upsample_normalise_one(m, size):
    up = _upsample(m, size)
    return _normalise(up, up.min((-2, -1)), up.max((-2, -1)))


@partial(jax.jit, static_argnames=("size",))
def upsample_maps(maps, *, size):
    """Bilinear upsampling to ``size``, per-map min-max normalisation: (B, G, h, w) → (B, G, H, W).

    The same math as :func:`concept_maps` after the channel sum (a constant map becomes 0).
    """
    return jax.vmap(_upsample_normalise_one, in_axes=(0, None))(jnp.asarray(maps, jnp.float32),
                                                                 size)
