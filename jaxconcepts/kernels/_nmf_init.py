"""Starts for :func:`jaxconcepts.kernels.nmf`: random (scikit-learn's recipe) and NNDSVDa, and the
solver state (:class:`NMFState`) they start."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxconcepts._checks import safe_div

__all__ = ["NMFState", "nmf_init", "nmf_init_nndsvda"]


class NMFState(NamedTuple):
    """Solver state.

    Attributes:
        U: ``(n, k)`` codes, ≥ 0.
        W: ``(k, c)`` dictionary, ≥ 0.
        n_iter: sweeps done (int32).
        sq_error: ``‖A − U W‖²_F`` after the last sweep.
        prev_sq_error: the same before the last sweep (``inf`` initially).
    """

    U: jax.Array
    W: jax.Array
    n_iter: jax.Array
    sq_error: jax.Array
    prev_sq_error: jax.Array


def nmf_init(A, k, *, key):
    """Random non-negative start scaled to the data (scikit-learn's ``init='random'`` recipe).

    Entries are ``|N(0, 1)| · sqrt(mean(A) / k)``, so ``U W`` starts at the data's mean scale.

    Args:
        A: ``(n, c)`` non-negative data.
        k: rank.
        key: PRNG key (the start is a deterministic function of it).

    Returns:
        :class:`NMFState` with ``n_iter = 0``.
    """
    n, c = A.shape
    ku, kw = jax.random.split(key)
    avg = jnp.sqrt(jnp.maximum(jnp.mean(A), 0.0) / k)
    U = avg * jnp.abs(jax.random.normal(ku, (n, k), A.dtype))
    W = avg * jnp.abs(jax.random.normal(kw, (k, c), A.dtype))
    inf = jnp.asarray(jnp.inf, A.dtype)
    return NMFState(U, W, jnp.int32(0), inf, inf)


def _randomized_svd(A, k, key, n_oversamples=10, n_power=4):
    """Top-k SVD by a randomized range finder with power iterations (Halko et al. 2011)."""
    n, c = A.shape
    q = min(k + n_oversamples, n, c)
    Q = A @ jax.random.normal(key, (c, q), A.dtype)
    Q, _ = jnp.linalg.qr(Q)
    for _ in range(n_power):
        Q, _ = jnp.linalg.qr(A.T @ Q)
        Q, _ = jnp.linalg.qr(A @ Q)
    Ub, S, Vt = jnp.linalg.svd(Q.T @ A, full_matrices=False)
    return (Q @ Ub)[:, :k], S[:k], Vt[:k]


def nmf_init_nndsvda(A, k, *, key):
    """NNDSVDa start (Boutsidis & Gallopoulos 2008; scikit-learn's default for ``k < min(n, c)``).

    Each singular pair is split into its positive and negative parts and the larger-norm part is
    kept; zeros are filled with ``mean(A)``. The top-k SVD is randomized, so the start depends on
    ``key`` (only through the range finder).
    """
    Us, S, Vt = _randomized_svd(A, k, key)

    def pair(x, y, s):
        xp, xn = jnp.maximum(x, 0), jnp.maximum(-x, 0)
        yp, yn = jnp.maximum(y, 0), jnp.maximum(-y, 0)
        nxp, nxn = jnp.linalg.norm(xp), jnp.linalg.norm(xn)
        nyp, nyn = jnp.linalg.norm(yp), jnp.linalg.norm(yn)
        mp, mn = nxp * nyp, nxn * nyn
        pos = mp >= mn
        u = jnp.where(pos, safe_div(xp, nxp), safe_div(xn, nxn))
        v = jnp.where(pos, safe_div(yp, nyp), safe_div(yn, nyn))
        lam = jnp.sqrt(s * jnp.where(pos, mp, mn))
        return lam * u, lam * v

    u, w = jax.vmap(pair, in_axes=(1, 0, 0))(Us, Vt, S)
    # the leading pair is of one sign: take its absolute value
    u = u.at[0].set(jnp.sqrt(S[0]) * jnp.abs(Us[:, 0]))
    w = w.at[0].set(jnp.sqrt(S[0]) * jnp.abs(Vt[0]))
    avg = jnp.mean(A)
    U = jnp.where(u.T == 0, avg, u.T)
    W = jnp.where(w == 0, avg, w)
    inf = jnp.asarray(jnp.inf, A.dtype)
    return NMFState(U, W, jnp.int32(0), inf, inf)
