"""Gradient rankings of concepts in code space: Grad-CAM and Integrated Gradients (C2MF §3.3).

Used by the C2MF paper's insertion/deletion metric (:func:`jaxconcepts.evaluation.
insertion_deletion`) to order a fitted decomposition's concepts for one image. Images are groups of
rows: ``U`` ``(p, k)`` are the codes of an image's ``p = h·w`` positions, ``recon(U, cls)`` maps
them back to ``(p, c)`` activations and ``h`` maps an image's rows to ``(K,)`` logits (for a GAP +
linear head: ``rows.mean(0) @ weight.T + bias``).

Not to be confused with :func:`jaxconcepts.importance.concept_importance`, Eq. 3 of Lambert et al.
(occlusion of channel groups in activation space).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxconcepts._checks import check_choice

__all__ = ["Recon", "Head", "code_importance", "linear_head_fn"]

Recon = Callable[[jax.Array, jax.Array], jax.Array]  # (p, k) codes, class -> (p, c) rows
Head = Callable[[jax.Array], jax.Array]  # (p, c) rows -> (K,) logits

_METHODS = ("gradcam", "ig")


def linear_head_fn(head) -> Head:
    """``h(rows) = rows.mean(0) @ weight.T + bias`` for a GAP + linear head record (traceable)."""
    return lambda rows: rows.mean(0) @ jnp.asarray(head.weight).T + jnp.asarray(head.bias)


def code_importance(U, cls, target, recon: Recon, h: Head, *, method: str, n_steps: int):
    """Importance of each concept for one image, from gradients of the target's logit w.r.t. codes.

    - ``"gradcam"``: ``w_j = mean_p ∂z_t/∂U_pj`` (the Grad-CAM channel weight, here a concept), and
      importance ``w_j · mean_p U_pj``;
    - ``"ig"``: Integrated Gradients from the zero-code baseline, ``Σ_p U_pj · mean_s ∂z_t/∂U_pj
      (s U / n)``, ``n_steps`` midpoint steps (completeness: sums to ``z_t(U) − z_t(0)``).

    Args:
        U: ``(p, k)`` codes of the image's rows; cls: the class whose gates/dictionary reconstruct;
        target: the logit explained; recon, h: see module docstring.
        method: ``"gradcam"`` or ``"ig"``; n_steps: IG steps (unused by Grad-CAM).

    Returns:
        ``(k,)`` importances.
    """
    check_choice("method", method, _METHODS)
    logit = lambda V: h(recon(V, cls))[target]  # noqa: E731
    if method == "gradcam":
        g = jax.grad(logit)(U)
        return g.mean(0) * U.mean(0)
    alphas = (jnp.arange(n_steps) + 0.5) / n_steps
    grads = jax.vmap(lambda a: jax.grad(logit)(a * U))(alphas)
    return jnp.sum(U * grads.mean(0), axis=0)
