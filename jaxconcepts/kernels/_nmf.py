"""Non-negative matrix factorisation ``A ≈ U W`` by HALS, jit-compiled.

Hierarchical alternating least squares (Cichocki & Phan 2009; Gillis 2014): each sweep updates the
rows of ``W`` one at a time, then the columns of ``U`` one at a time, each by its exact non-negative
least-squares minimiser with the others fixed. Only Gram-sized products are formed per sweep
(``Uᵀ A``, ``Uᵀ U``, ``A Wᵀ``, ``W Wᵀ``), so one sweep costs two ``n × k × c`` matmuls.

It is the factorisation of CRAFT (Fel et al. 2023) and Eq. 1 of the C2MF paper
(``A ≈ U W, U ≥ 0, W ≥ 0``). The loop is ``init → step → step ...`` on a :class:`NMFState`, run by
``lax.while_loop`` until the relative decrease of the squared error falls below ``tol`` or
``max_iter`` sweeps are done.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["NMFState", "NMFResult", "nmf", "nmf_init", "nmf_init_nndsvda", "nmf_step"]


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


class NMFResult(NamedTuple):
    """Result of :func:`nmf`.

    Attributes:
        U: ``(n, k)`` codes.
        W: ``(k, c)`` dictionary (concepts).
        n_iter: sweeps done.
        rel_error: ``‖A − U W‖_F / ‖A‖_F``.
        converged: whether the tolerance was met before ``max_iter``.
    """

    U: jax.Array
    W: jax.Array
    n_iter: jax.Array
    rel_error: jax.Array
    converged: jax.Array


def _safe_div(num, den):
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def _sq_error(norm_a2, U, AWt, WWt):
    """‖A − UW‖² = ‖A‖² − 2⟨U, AWᵀ⟩ + ⟨UᵀU, WWᵀ⟩, clamped at 0 (float32 cancellation)."""
    err = norm_a2 - 2.0 * jnp.vdot(U, AWt) + jnp.vdot(U.T @ U, WWt)
    return jnp.maximum(err, 0.0)


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
        u = jnp.where(pos, _safe_div(xp, nxp), _safe_div(xn, nxn))
        v = jnp.where(pos, _safe_div(yp, nyp), _safe_div(yn, nyn))
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


def nmf_step(A, state, norm_a2=None, inner=1):
    """One HALS sweep: every row of ``W``, then every column of ``U``, by exact NNLS updates.

    Args:
        A: ``(n, c)`` non-negative data.
        state: current :class:`NMFState`.
        norm_a2: ``‖A‖²_F`` (computed if ``None``; pass it inside loops).
        inner: passes over the k rows (then columns) per sweep. The Gram products are computed once
            per sweep and the passes cost only ``O((n + c) k²)`` each, so ``inner > 1`` buys more
            progress per expensive matmul ("accelerated HALS", Gillis & Glineur 2012).

    Returns:
        The next :class:`NMFState`; ``sq_error`` is exact for the returned ``U, W``.
    """
    U, W = state.U, state.W
    k = W.shape[0]
    if norm_a2 is None:
        norm_a2 = jnp.vdot(A, A)

    # W rows: W_j ← max(0, W_j + ((UᵀA)_j − (UᵀU)_j W) / (UᵀU)_jj)
    UtA = U.T @ A
    UtU = U.T @ U

    def w_body(j, W):
        row = W[j] + _safe_div(UtA[j] - UtU[j] @ W, UtU[j, j])
        return W.at[j].set(jnp.maximum(row, 0.0))

    W = lax.fori_loop(0, k * inner, lambda i, W: w_body(i % k, W), W)

    # U columns: U_:j ← max(0, U_:j + ((AWᵀ)_:j − U (WWᵀ)_:j) / (WWᵀ)_jj)
    AWt = A @ W.T
    WWt = W @ W.T

    def u_body(j, U):
        col = U[:, j] + _safe_div(AWt[:, j] - U @ WWt[:, j], WWt[j, j])
        return U.at[:, j].set(jnp.maximum(col, 0.0))

    U = lax.fori_loop(0, k * inner, lambda i, U: u_body(i % k, U), U)
    err = _sq_error(norm_a2, U, AWt, WWt)
    return NMFState(U, W, state.n_iter + 1, err, state.sq_error)


@functools.partial(jax.jit, static_argnames=("k", "inner", "init"))
def _nmf(A, key, tol, max_iter, *, k, inner=1, init="random"):
    norm_a2 = jnp.vdot(A, A)
    state = (nmf_init_nndsvda if init == "nndsvda" else nmf_init)(A, k, key=key)

    def cond(s):
        rel_drop = (s.prev_sq_error - s.sq_error) / jnp.maximum(s.prev_sq_error, 1e-30)
        first = jnp.isinf(s.prev_sq_error) & jnp.isfinite(s.sq_error)
        not_done = (s.n_iter == 0) | first | (rel_drop > tol)
        return (s.n_iter < max_iter) & not_done

    def body(s):
        return nmf_step(A, s, norm_a2, inner)

    state = lax.while_loop(cond, body, state)
    rel_drop = (state.prev_sq_error - state.sq_error) / jnp.maximum(state.prev_sq_error, 1e-30)
    converged = rel_drop <= tol
    rel = jnp.sqrt(state.sq_error / jnp.maximum(norm_a2, 1e-30))
    return NMFResult(state.U, state.W, state.n_iter, rel, converged)


def nmf(A, k, *, key, max_iter=200, tol=1e-4, inner=3, init="random"):
    """Factorise non-negative ``A ≈ U W`` with ``U ≥ 0`` (n, k) and ``W ≥ 0`` (k, c) by HALS.

    Eq. 1 of the C2MF paper; CRAFT's concept extraction. Deterministic for a given ``key``.

    Args:
        A: ``(n, c)`` non-negative data (e.g. spatially averaged ReLU activations of crops).
        k: rank, the number of concepts; ``1 ≤ k ≤ min(n, c)``.
        key: PRNG key for the random start.
        max_iter: maximum HALS sweeps.
        tol: stop when the relative decrease of ``‖A − UW‖²`` over one sweep is ``≤ tol``.
        inner: passes per block per sweep (see :func:`nmf_step`); 1 is plain HALS, default 3.
        init: ``"random"`` (:func:`nmf_init`) or ``"nndsvda"`` (:func:`nmf_init_nndsvda`).

    Returns:
        :class:`NMFResult`.

    Raises:
        ValueError: if ``A`` is not 2-D, has negative or non-finite entries, or ``k`` is out of
            range.
    """
    A = jnp.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"A should be 2-D (n, c), got shape {A.shape}")
    n, c = A.shape
    if not (isinstance(k, int) and 1 <= k <= min(n, c)):
        raise ValueError(
            f"k={k} should be an int in [1, min(n, c)={min(n, c)}] for A of shape {A.shape}")
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter} should be >= 1")
    if not jnp.issubdtype(A.dtype, jnp.floating):
        A = A.astype(jnp.float32)
    if not bool(jnp.all(jnp.isfinite(A))):
        raise ValueError("A contains NaN or inf")
    if bool(jnp.any(A < 0)):
        raise ValueError(f"A should be non-negative for NMF, min(A)={float(jnp.min(A)):.4g}")
    if not (isinstance(inner, int) and inner >= 1):
        raise ValueError(f"inner={inner} should be an int >= 1")
    if init not in ("random", "nndsvda"):
        raise ValueError(f"init={init!r} should be one of 'random', 'nndsvda'")
    return _nmf(A, key, jnp.asarray(tol, A.dtype), jnp.int32(max_iter), k=k, inner=inner,
                init=init)
