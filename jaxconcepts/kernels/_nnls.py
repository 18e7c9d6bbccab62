"""Batched non-negative (optionally box-constrained) least squares by coordinate descent.

Solves, for every row ``a`` of ``A``,

    min_u ‖a − u W‖²   s.t.  0 ≤ u ≤ upper,       u ∈ R^k, W ∈ R^{k×c}

in its Gram form ``min_u ½ uᵀ G u − bᵀ u`` with ``G = W Wᵀ`` and ``b = W a``. The per-row kernel
(:func:`nnls_gram`) does exact coordinate minimisation (one HALS sweep = k projected Newton steps on
single coordinates), looped with ``lax.while_loop`` until the projected-gradient violation is small
relative to the problem's scale; :func:`nnls` vmaps it over rows. The problem is strictly convex
when ``G`` is positive definite, and coordinate descent converges to its unique minimiser.

This is the "transform" of every concept method: with the dictionary ``W`` fixed, codes for new
activations (C2MF §3.3, "fixing W* and solving for the new coefficient matrix U_test").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxconcepts.kernels._cd import hals_sweeps

__all__ = ["NNLSResult", "nnls", "nnls_gram", "cd_sweep"]


class NNLSResult(NamedTuple):
    """Codes and per-row diagnostics.

    Attributes:
        codes: ``(n, k)`` non-negative codes ``U`` with ``A ≈ U W``.
        n_iter: ``(n,)`` int32 sweeps used per row.
        violation: ``(n,)`` final projected-gradient violation, relative to ``max(|b|, diag G)``.
    """

    codes: jax.Array
    n_iter: jax.Array
    violation: jax.Array


def cd_sweep(u, b, G, scale, upper):
    """One pass of exact coordinate minimisation over the k coordinates of one row.

    The effective Gram matrix is ``diag(scale) G diag(scale)`` and the effective linear term
    ``scale * b`` (a per-row gate, as in C2MF's ``U diag(σ(λ_y)) W``), so a gated problem never
    materialises a (k, k) matrix per row.

    Args:
        u: ``(k,)`` current codes, feasible.
        b: ``(k,)`` ``W a`` (ungated).
        G: ``(k, k)`` ``W Wᵀ`` (ungated).
        scale: ``(k,)`` per-coordinate gate ``s`` (ones for plain NNLS).
        upper: scalar upper bound (``inf`` for plain NNLS).

    Returns:
        ``(k,)`` updated codes.
    """
    # one row's (k,) codes: :func:`~jaxconcepts.kernels.hals_sweeps` with every coordinate a scalar
    return hals_sweeps(u, G, b, 1, scale=scale, upper=upper)


def _violation(u, b, G, scale, upper):
    """Projected-gradient optimality violation (0 at the KKT point), unscaled."""
    grad = scale * ((u * scale) @ G - b)
    at_lo = u <= 0.0
    at_hi = u >= upper
    pg = jnp.where(at_lo, jnp.minimum(grad, 0.0), jnp.where(at_hi, jnp.maximum(grad, 0.0), grad))
    return jnp.max(jnp.abs(pg))


def nnls_gram(b, G, *, scale=None, upper=jnp.inf, u0=None, max_iter=200, tol=1e-5):
    """Solve one row's NNLS in Gram form: ``min ½ uᵀ S G S u − (S b)ᵀ u``, ``0 ≤ u ≤ upper``.

    Written for one row; vmap it over rows (that is what :func:`nnls` does).

    Args:
        b: ``(k,)`` ``W a``.
        G: ``(k, k)`` ``W Wᵀ``.
        scale: ``(k,)`` per-coordinate gate ``S = diag(scale)``; ``None`` means ones.
        upper: upper bound on the codes (default ``inf``: plain NNLS).
        u0: ``(k,)`` warm start (clipped into the box); ``None`` means zeros.
        max_iter: maximum number of sweeps.
        tol: stop when the projected-gradient violation is ``≤ tol · max(max|S b|, max S²diag G)``.

    Returns:
        ``(u, n_iter, relative_violation)``.
    """
    b, G = jnp.asarray(b), jnp.asarray(G)
    k = b.shape[0]
    scale = jnp.ones((k,), b.dtype) if scale is None else scale
    u = jnp.zeros((k,), b.dtype) if u0 is None else jnp.clip(u0, 0.0, upper)
    ref = jnp.maximum(jnp.max(jnp.abs(scale * b)), jnp.max(scale**2 * jnp.diag(G)))
    ref = jnp.where(ref > 0, ref, 1.0)

    def cond(state):
        _, it, viol = state
        return (it < max_iter) & (viol > tol)

    def body(state):
        u, it, _ = state
        u = cd_sweep(u, b, G, scale, upper)
        return u, it + 1, _violation(u, b, G, scale, upper) / ref

    viol0 = _violation(u, b, G, scale, upper) / ref
    u, it, viol = lax.while_loop(cond, body, (u, jnp.int32(0), viol0))
    return u, it, viol


def nnls(A, W, *, upper=None, max_iter=200, tol=1e-5, codes0=None):
    """Non-negative codes of every row of ``A`` on a fixed dictionary ``W``: ``A ≈ U W, U ≥ 0``.

    Args:
        A: ``(n, c)`` activations (any sign).
        W: ``(k, c)`` dictionary (any sign).
        upper: optional upper bound on the codes (box-constrained least squares).
        max_iter: maximum coordinate-descent sweeps per row.
        tol: relative projected-gradient tolerance (see :func:`nnls_gram`).
        codes0: optional ``(n, k)`` warm start.

    Returns:
        :class:`NNLSResult`.

    Raises:
        ValueError: if shapes disagree or ``max_iter < 1``.
    """
    A = jnp.asarray(A)
    W = jnp.asarray(W)
    if A.ndim != 2 or W.ndim != 2:
        raise ValueError(f"A and W should be 2-D, got A.shape={A.shape}, W.shape={W.shape}")
    if A.shape[1] != W.shape[1]:
        raise ValueError(
            f"A.shape[1]={A.shape[1]} (channels) should equal W.shape[1]={W.shape[1]}"
        )
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter} should be >= 1")
    if codes0 is not None and tuple(codes0.shape) != (A.shape[0], W.shape[0]):
        raise ValueError(f"codes0.shape={codes0.shape} should be {(A.shape[0], W.shape[0])}")
    dtype = jnp.result_type(A.dtype, W.dtype, jnp.float32)
    up = jnp.inf if upper is None else float(upper)
    return _nnls(A.astype(dtype), W.astype(dtype), codes0, jnp.asarray(up, dtype),
                 jnp.int32(max_iter), jnp.asarray(tol, dtype))


@jax.jit
def _nnls(A, W, codes0, upper, max_iter, tol):
    G = W @ W.T
    B = A @ W.T
    def solve(b, u0):
        return nnls_gram(b, G, upper=upper, u0=u0, max_iter=max_iter, tol=tol)

    if codes0 is None:
        u, it, viol = jax.vmap(lambda b: solve(b, None))(B)
    else:
        u, it, viol = jax.vmap(solve)(B, codes0)
    return NNLSResult(u, it, viol)
