"""The box coordinate-descent step shared by NNLS, NMF (HALS), C2MF's codes and the streamed NMF.

Each coordinate ``x_j`` of a convex quadratic ``½ xᵀ G x − bᵀ x`` on the box ``0 ≤ x ≤ upper`` has
the exact 1-D minimiser ``clip(x_j + (b_j − (G x)_j) / G_jj, 0, upper)`` (:func:`box_step`);
:func:`hals_sweeps` applies it to the k coordinates in turn, each coordinate a whole row of ``X``
(HALS: every column of the codes, or every row of a dictionary, at once).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jaxconcepts._checks import safe_div

__all__ = ["box_step", "hals_sweeps"]


def box_step(x, residual, curvature, upper=None):
    """Exact coordinate minimisation: ``clip(x + residual / curvature, 0, upper)``.

    Where ``curvature ≤ 0`` (a zero atom or an unused code) the step is 0 and ``x`` is only
    projected on the box. ``upper=None`` is the plain non-negativity ``max(·, 0)``."""
    x = x + safe_div(residual, curvature)
    return jnp.maximum(x, 0.0) if upper is None else jnp.clip(x, 0.0, upper)


def _row(X, j):
    return lax.dynamic_index_in_dim(X, j, 0, keepdims=False)


def hals_sweeps(X, G, B, passes, *, scale=None, upper=None):
    """``passes`` sweeps of :func:`box_step` over the rows of ``X`` (``k × …``).

    Row ``j`` solves its coordinate of ``min ½ tr(Xᵀ S G S X) − tr(Bᵀ S X)`` (``S = diag(scale)``,
    a per-row gate broadcast over ``X``'s trailing axes; the identity when ``None``), so
    ``X_j ← clip(X_j + (B_j − G_j · (S X)) / (s_j G_jj), 0, upper)``, ``j = 0..k-1``.

    Args:
        X: ``(k, …)`` current values, feasible. G: ``(k, k)`` Gram matrix (symmetric).
        B: like ``X``, the linear term. passes: sweeps over the k rows (static).
        scale: ``None`` or an array broadcastable to ``X`` whose row ``j`` gates row ``j``.
        upper: ``None`` (``X ≥ 0``) or the upper bound of the box.

    Rows are updated with a dynamic row index in a ``fori_loop`` (one small loop body whatever
    ``k`` is; a contiguous row per update).
    """
    k = X.shape[0]
    if scale is None:
        def body(i, X):
            j = i % k
            g = _row(G, j)
            new = box_step(_row(X, j), _row(B, j) - jnp.tensordot(g, X, axes=1), g[j], upper)
            return lax.dynamic_update_index_in_dim(X, new, j, 0)

        return lax.fori_loop(0, k * passes, body, X)

    def gated(i, carry):
        X, V = carry  # V = S X, the gated rows the reconstruction uses
        j = i % k
        g, s = _row(G, j), _row(scale, j)
        new = box_step(_row(X, j), _row(B, j) - jnp.tensordot(g, V, axes=1), s * g[j], upper)
        return (lax.dynamic_update_index_in_dim(X, new, j, 0),
                lax.dynamic_update_index_in_dim(V, new * s, j, 0))

    return lax.fori_loop(0, k * passes, gated, (X, X * scale))[0]
