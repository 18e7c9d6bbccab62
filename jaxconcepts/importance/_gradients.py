"""Gradient rankings of concepts in code space: Grad-CAM and Integrated Gradients (C2MF §3.3).

Used by the C2MF paper's insertion/deletion metric (:func:`jaxconcepts.evaluation.
insertion_deletion`) to order a fitted decomposition's concepts for one image. Images are groups of
rows: ``U`` ``(p, k)`` are the codes of an image's ``p = h·w`` positions, ``recon(U, cls)`` maps
them back to ``(p, c)`` activations and ``h`` maps an image's rows to ``(K,)`` logits (for a GAP +
linear head: ``rows.mean(0) @ weight.T + bias``).

Two ways to get the gradients, one formula (:func:`importance_from_grads`):

- a traceable ``h`` (the GAP + linear closed form): :func:`code_importance`, ``jax.grad`` through
  ``h ∘ recon``;
- a non-linear ``h`` that JAX cannot trace (the rest of a torch network after an intermediate
  block): a :class:`~jaxconcepts.heads.HostHead` with ``grad`` returns ``∂z_t/∂A`` on the host,
  and the chain rule through the fixed dictionary (``recon`` is affine in the codes, W is fixed)
  gives ``∂z_t/∂U`` in JAX (``jaxconcepts.evaluation`` runs it batched).

With a GAP + linear head the two rankings coincide: the logit is linear in the codes, so the
gradient is the same at every row and every point of IG's path, and IG_j = p · Grad-CAM_j. Only a
non-linear h can make them differ.

Not to be confused with :func:`jaxconcepts.importance.concept_importance`, Eq. 3 of Lambert et al.
(occlusion of channel groups in activation space).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxconcepts._checks import check_choice

__all__ = ["Recon", "code_importance", "importance_from_grads", "ig_alphas"]

Recon = Callable[[jax.Array, jax.Array], jax.Array]  # (p, k) codes, class -> (p, c) rows

_METHODS = ("gradcam", "ig")


def ig_alphas(n_steps: int) -> jax.Array:
    """The ``n_steps`` midpoints ``(s + 0.5) / n_steps`` of IG's straight path from zero codes."""
    return (jnp.arange(n_steps) + 0.5) / n_steps


def importance_from_grads(U, grads, *, method: str):
    """Concept importances of one image from code gradients (the formula both paths share).

    Args:
        U: ``(p, k)`` codes.
        grads: ``"gradcam"``: ``(p, k)`` ``∂z_t/∂U`` at ``U``; ``"ig"``: ``(S, p, k)`` the
            gradients at ``ig_alphas(S) · U``.

    Returns:
        ``(k,)``: Grad-CAM ``mean_p ∂z_t/∂U_pj · mean_p U_pj``; IG ``Σ_p U_pj · mean_s ∂z_t/∂U_pj``.
    """
    check_choice("method", method, _METHODS)
    if method == "gradcam":  # array methods only: numpy in, numpy out (the host path)
        return grads.mean(0) * U.mean(0)
    return (U * grads.mean(0)).sum(axis=0)


def code_importance(U, cls, target, recon: Recon, h: Callable[[jax.Array], jax.Array], *,
                    method: str, n_steps: int):
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
        return importance_from_grads(U, jax.grad(logit)(U), method=method)
    grads = jax.vmap(lambda a: jax.grad(logit)(a * U))(ig_alphas(n_steps))
    return importance_from_grads(U, grads, method=method)
