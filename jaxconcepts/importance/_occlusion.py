"""Concept importance by occlusion: Eq. 3 of Lambert et al. (§3.3), batched.

For an image with activations A (C, H, W), a head h (logits of the classifier) and a target class t,

    p_t   = softmax(h(A))_t
    p_c_l = softmax(h(A with every channel of concept l set to 0))_t
    I_l   = (p_t - p_c_l) / p_t * 100                                   (Eq. 3)

Every concept, every sub-concept and every complementary occlusion ("keep only concept l") of every
image of a batch is evaluated in one jitted call: the occlusions are a (B, M, C) tensor of keep
masks (1 = channel kept, 0 = channel zeroed), M = 1 + 2K + K*S rows per image:

    row 0                       nothing occluded (gives p_t)
    rows 1 .. K                 concept l occluded               -> importance
    rows K+1 .. 2K              everything but concept l zeroed  -> keep_importance
    rows 2K+1 .. 2K+K*S         sub-concept (l, s) occluded      -> sub_importance

When h is global-average-pool + linear (``HeadParams``, the extraction stage stores it) zeroing
channels commutes with the pooling, so the masked logits have the closed form
``(mean(A) * keep) @ W.T + b`` and the masked maps are never materialised.

Numerics. Eq. 3 is evaluated in log space, ``I = -expm1(log p_c - log p_t) * 100``, which is exact
where the quotient of two rounded probabilities is not. **Defined result for a vanishing p_t:**
when p_t < ``min_p`` (default: float32 machine epsilon, 1.19e-7, i.e. p_t is zero or below the
precision of a float32 probability next to 1) the ratio carries no information; every importance of
that image is then defined as **0** and ``valid`` is False. For p_t >= min_p the result is finite
and lies in [(1 - 1/min_p) * 100, 100]. Empty concepts and empty sub-concepts (no channel) get 0 in
all three outputs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.heads import HeadParams, HostHead, as_head

__all__ = [
    "DEFAULT_MIN_P",
    "ImportanceResult",
    "concept_importance",
    "importance_from_log_probs",
    "importance_from_probs",
    "masked_logits",
    "occlusion_masks",
]

DEFAULT_MIN_P = float(np.finfo(np.float32).eps)


class ImportanceResult(NamedTuple):
    """Importances of one batch (B images, K concepts, S sub-concepts per concept).

    Attributes:
        p_t: (B,) unoccluded probability of the target class.
        importance: (B, K) I_l, concept l occluded (Eq. 3).
        keep_importance: (B, K) same with every channel *but* concept l's zeroed.
        sub_importance: (B, K, S) I of sub-concept (l, s) occluded.
        valid: (B,) bool, p_t >= min_p (where False every importance is defined as 0).
    """

    p_t: jax.Array
    importance: jax.Array
    keep_importance: jax.Array
    sub_importance: jax.Array
    valid: jax.Array


def _masks_one(labels, sub_labels, n_concepts: int, n_sub: int):
    """Keep masks (M, C) float32 and non-empty flags (M,) bool for one image's labels (C,)."""
    c = labels.shape[0]
    concept = labels[None, :] == jnp.arange(n_concepts, dtype=labels.dtype)[:, None]  # (K, C)
    sub_hit = sub_labels[None, :] == jnp.arange(n_sub, dtype=sub_labels.dtype)[:, None]  # (S, C)
    sub = (concept[:, None, :] & sub_hit[None, :, :]).reshape(n_concepts * n_sub, c)  # (K*S, C)
    keep = jnp.concatenate([jnp.ones((1, c), bool), ~concept, concept, ~sub], axis=0)
    nonempty = jnp.concatenate(
        [jnp.ones((1,), bool), concept.any(-1), concept.any(-1), sub.any(-1)], axis=0
    )
    return keep.astype(jnp.float32), nonempty


def occlusion_masks(labels, sub_labels, *, n_concepts: int, n_sub: int = 3):
    """Keep masks of every occlusion of every image of a batch (layout in the module docstring).

    Args:
        labels: int (B, C), concept of each channel in [0, n_concepts), -1 for dead channels.
        sub_labels: int (B, C), sub-concept of each channel within its parent in [0, n_sub),
            -1 dead.
        n_concepts: K.
        n_sub: S.

    Returns:
        keep: float32 (B, M, C), M = 1 + 2K + K*S; 1 keeps the channel, 0 zeroes it.
        nonempty: bool (B, M), whether the concept / sub-concept of the row has a channel.
    """
    labels = jnp.asarray(labels)
    sub_labels = jnp.asarray(sub_labels)
    return jax.vmap(_masks_one, in_axes=(0, 0, None, None))(labels, sub_labels, n_concepts, n_sub)


def masked_logits(activations, keep, head):
    """Logits of h on masked activations, for M masks per image.

    Args:
        activations: float32 (B, C, H, W).
        keep: float32 (B, M, C) keep masks (1 keep, 0 zero; fractional values scale the channel).
        head: ``HeadParams`` (closed form from the pooled features) or a JAX-traceable callable
            (n, C, H, W) -> (n, n_classes), run on the (M, C, H, W) masked maps of one image at a
            time (``lax.map`` over images keeps memory at one image's masked maps).

    Returns:
        float32 (B, M, n_classes).
    """
    activations = jnp.asarray(activations, jnp.float32)
    keep = jnp.asarray(keep, jnp.float32)
    head = as_head(head)
    if isinstance(head, HeadParams):
        return _closed_form_logits(
            activations, keep, jnp.asarray(head.weight), jnp.asarray(head.bias)
        )
    return _generic_logits(activations, keep, head)


@jax.jit
def _closed_form_logits(activations, keep, weight, bias):
    pooled = activations.mean((-2, -1))  # (B, C)
    return jnp.einsum("bmc,kc->bmk", pooled[:, None, :] * keep, weight) + bias


def _generic_logits(activations, keep, head):
    def one(args):
        a, k = args
        return head(a[None] * k[:, :, None, None])

    return jax.lax.map(one, (activations, keep))


def importance_from_log_probs(log_p_t, log_p_occluded, *, min_p: float = DEFAULT_MIN_P):
    """Eq. 3 in log space: ``I = -expm1(log p_c - log p_t) * 100``; 0 where p_t < min_p.

    Args:
        log_p_t: (...,) log-probability of the target, unoccluded.
        log_p_occluded: (..., M) log-probability of the target under each occlusion.
        min_p: smallest p_t for which the ratio is computed (see the module docstring).

    Returns:
        importance (..., M) float32 (finite), valid (...,) bool.
    """
    log_p_t = jnp.asarray(log_p_t, jnp.float32)
    log_p_occluded = jnp.asarray(log_p_occluded, jnp.float32)
    valid = log_p_t >= jnp.log(jnp.float32(min_p))
    safe_t = jnp.where(valid, log_p_t, 0.0)[..., None]
    # clip: with p_t >= min_p the log ratio is <= -log(min_p); the clip only guards invalid rows
    ratio = jnp.minimum(log_p_occluded - safe_t, -jnp.log(jnp.float32(min_p)))
    imp = -jnp.expm1(ratio) * 100.0
    return jnp.where(valid[..., None], imp, 0.0), valid


def importance_from_probs(p_t, p_occluded, *, min_p: float = DEFAULT_MIN_P):
    """Eq. 3 on probabilities, ``(p_t - p_c) / p_t * 100``; 0 where p_t < min_p (never NaN/inf).

    Args:
        p_t: (...,) probability of the target, unoccluded.
        p_occluded: (..., M) probability of the target under each occlusion.

    Returns:
        importance (..., M) float32, valid (...,) bool.
    """
    p_t = jnp.asarray(p_t, jnp.float32)
    p_occluded = jnp.asarray(p_occluded, jnp.float32)
    valid = p_t >= min_p
    safe = jnp.where(valid, p_t, 1.0)[..., None]
    imp = (safe - p_occluded) / safe * 100.0
    return jnp.where(valid[..., None], imp, 0.0), valid


def _finish(logits, nonempty, target, n_concepts: int, n_sub: int, min_p: float):
    """Log-softmax at the target, Eq. 3, split the M rows into the result fields."""
    log_p = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)  # (B, M, n_classes)
    log_p_target = jnp.take_along_axis(log_p, target[:, None, None], axis=-1)[..., 0]  # (B, M)
    imp, valid = importance_from_log_probs(log_p_target[:, 0], log_p_target[:, 1:], min_p=min_p)
    imp = jnp.where(nonempty[:, 1:], imp, 0.0)
    k, s = n_concepts, n_sub
    return ImportanceResult(
        p_t=jnp.exp(log_p_target[:, 0]),
        importance=imp[:, :k],
        keep_importance=imp[:, k : 2 * k],
        sub_importance=imp[:, 2 * k :].reshape(imp.shape[0], k, s),
        valid=valid,
    )


_finish_jit = jax.jit(_finish, static_argnums=(3, 4, 5))


def _pipeline(activations, labels, sub_labels, target, head, n_concepts, n_sub, min_p):
    keep, nonempty = occlusion_masks(labels, sub_labels, n_concepts=n_concepts, n_sub=n_sub)
    logits = masked_logits(activations, keep, head)
    return _finish(logits, nonempty, target, n_concepts, n_sub, min_p)


# a HeadParams is a pytree of arrays (traced); any other head is a static callable
_pipeline_linear = jax.jit(_pipeline, static_argnums=(5, 6, 7))
_pipeline_callable = jax.jit(_pipeline, static_argnums=(4, 5, 6, 7))


@jax.jit
def _masked_maps(activations, keep):
    b, m, _c = keep.shape
    return (activations[:, None] * keep[..., None, None]).reshape(b * m, *activations.shape[1:])


def _validate(activations, labels, sub_labels, target, head, n_concepts, n_sub, min_p):
    a, lab, sub, tgt = (np.shape(x) for x in (activations, labels, sub_labels, target))
    if len(a) != 4:
        raise ValueError(f"activations should have shape (B, C, H, W), got shape {a}")
    if lab != a[:2]:
        raise ValueError(f"labels should have shape (B, C)={a[:2]}, got shape {lab}")
    if sub != a[:2]:
        raise ValueError(f"sub_labels should have shape (B, C)={a[:2]}, got shape {sub}")
    if tgt != a[:1]:
        raise ValueError(f"target should have shape (B,)={a[:1]}, got shape {tgt}")
    for name, x in (("labels", labels), ("sub_labels", sub_labels), ("target", target)):
        if not np.issubdtype(np.asarray(x).dtype, np.integer):
            raise TypeError(f"{name} should be an integer array, got dtype {np.asarray(x).dtype}")
    if not np.issubdtype(np.asarray(activations).dtype, np.floating):
        raise TypeError(
            f"activations should be floating, got dtype {np.asarray(activations).dtype}"
        )
    if not (isinstance(n_concepts, int) and n_concepts >= 1):
        raise ValueError(f"n_concepts={n_concepts!r} should be an int >= 1")
    if not (isinstance(n_sub, int) and n_sub >= 0):
        raise ValueError(f"n_sub={n_sub!r} should be an int >= 0 (0: no sub-concepts)")
    if not (0.0 < float(min_p) < 1.0):
        raise ValueError(f"min_p={min_p!r} should be in (0, 1)")
    lab_np, sub_np = np.asarray(labels), np.asarray(sub_labels)
    if lab_np.size and (lab_np.min() < -1 or lab_np.max() >= n_concepts):
        raise ValueError(
            f"labels should lie in [-1, n_concepts={n_concepts}), got range "
            f"[{lab_np.min()}, {lab_np.max()}]"
        )
    if sub_np.size and (sub_np.min() < -1 or sub_np.max() >= n_sub):
        raise ValueError(
            f"sub_labels should lie in [-1, n_sub={n_sub}), got range "
            f"[{sub_np.min()}, {sub_np.max()}]"
        )
    n_classes = None
    if isinstance(head, HeadParams):
        w, bias = np.shape(head.weight), np.shape(head.bias)
        if len(w) != 2 or w[1] != a[1] or bias != w[:1]:
            raise ValueError(
                f"head should be HeadParams(weight (n_classes, C={a[1]}), bias (n_classes,)), "
                f"got weight {w}, bias {bias}"
            )
        n_classes = w[0]
    tgt_np = np.asarray(target)
    if tgt_np.size and (tgt_np.min() < 0 or (n_classes is not None and tgt_np.max() >= n_classes)):
        raise ValueError(
            f"target should lie in [0, n_classes={n_classes}), got range "
            f"[{tgt_np.min()}, {tgt_np.max()}]"
        )


def concept_importance(
    activations,
    labels,
    sub_labels,
    target,
    *,
    head,
    n_concepts: int,
    n_sub: int = 3,
    min_p: float = DEFAULT_MIN_P,
) -> ImportanceResult:
    """Importance (Eq. 3) of every concept, sub-concept and complement of a batch of images.

    Args:
        activations: float (B, C, H, W), the feature maps g(x) fed to the head.
        labels: int (B, C), concept per channel in [0, K), -1 for dead (all-zero) channels.
        sub_labels: int (B, C), sub-concept per channel within its parent in [0, S), -1 dead.
        target: int (B,), the class t whose probability is read.
        head: ``store.HeadParams`` or any record with ``weight`` / ``bias`` (GAP + linear,
            ``logits = A.mean((-2, -1)) @ weight.T + bias``: closed form, one jitted call), a JAX
            callable (n, C, H, W) -> (n, n_classes) (traced into the same jitted call), or a
            ``HostHead`` (e.g. torch, run on the masked maps in chunks; masks and Eq. 3 still in
            JAX).
        n_concepts: K.
        n_sub: S (maximum sub-concepts per concept; 3 in the paper).
        min_p: p_t below this gives importance 0 and ``valid`` False (module docstring).

    Returns:
        ``ImportanceResult`` with fields of shapes (B,), (B, K), (B, K), (B, K, S), (B,).

    Raises:
        ValueError: shapes disagree, labels / target out of range, bad n_concepts / n_sub / min_p.
        TypeError: non-integer labels or target, non-float activations, unusable head.
    """
    head = as_head(head)
    _validate(activations, labels, sub_labels, target, head, n_concepts, n_sub, min_p)
    activations = jnp.asarray(activations, jnp.float32)
    labels = jnp.asarray(labels, jnp.int32)
    sub_labels = jnp.asarray(sub_labels, jnp.int32)
    target = jnp.asarray(target, jnp.int32)
    if isinstance(head, HostHead):
        keep, nonempty = jax.jit(occlusion_masks, static_argnames=("n_concepts", "n_sub"))(
            labels, sub_labels, n_concepts=n_concepts, n_sub=n_sub
        )
        maps = np.asarray(_masked_maps(activations, keep))
        logits = jnp.asarray(head.logits(maps)).reshape(keep.shape[0], keep.shape[1], -1)
        if logits.shape[-1] <= int(np.max(np.asarray(target), initial=0)):
            raise ValueError(
                f"target max {int(np.max(np.asarray(target)))} is out of range for a head with "
                f"{logits.shape[-1]} classes"
            )
        return _finish_jit(logits, nonempty, target, n_concepts, n_sub, float(min_p))
    if isinstance(head, HeadParams):
        head = HeadParams(
            jnp.asarray(head.weight, jnp.float32), jnp.asarray(head.bias, jnp.float32)
        )
        run = _pipeline_linear
    else:
        run = _pipeline_callable
    return run(activations, labels, sub_labels, target, head, n_concepts, n_sub, float(min_p))
