"""Non-negative matrix factorisation ``A ≈ U W`` by HALS, jit-compiled.

Hierarchical alternating least squares (Cichocki & Phan 2009; Gillis 2014): each sweep updates the
rows of ``W`` one at a time, then the columns of ``U`` one at a time, each by its exact non-negative
least-squares minimiser with the others fixed. Only Gram-sized products are formed per sweep
(``Uᵀ A``, ``Uᵀ U``, ``A Wᵀ``, ``W Wᵀ``), so one sweep costs two ``n × k × c`` matmuls; the
``inner`` passes over the k rows/columns that follow each matmul cost only ``O((n + c) k²)``
("accelerated HALS", Gillis & Glineur 2012).

The solver (:func:`nmf`) adds three things to plain HALS, all measured on ``benchmarks/nmf.py``:

- **Transposed codes.** Inside the loop the codes are stored as ``Uᵀ`` (``k × n``), so the update of
  one column of ``U`` is a contiguous row update of ``Uᵀ`` (a dynamic row index in a
  ``fori_loop``), about 4× faster on CPU than strided column updates of ``U`` with
  ``.at[:, j].set``. ``Uᵀ A`` is formed from an explicitly materialised ``U`` (an
  ``optimization_barrier`` keeps XLA from folding the transpose into the dot, whose ``(k, n) @
  (n, c)`` form is ~2× slower on CPU than ``(n, k)ᵀ @ (n, c)``).
- **Extrapolation with restarts** (Ang & Gillis 2019, "Accelerating NMF algorithms using
  extrapolation"): each factor is pushed along its last step by ``β`` before the other factor is
  updated from it; ``β`` grows by ``γ`` while the error decreases and shrinks by ``η`` otherwise.
- **Monotonicity by acceptance.** A sweep is kept only when its exact error ``‖A − U W‖²`` (Gram
  form, no extra matmul) is ``≤`` the previous one; a rejected sweep leaves the factors unchanged
  and the next sweep is a plain (unextrapolated) HALS sweep. So the error never increases, and a
  plain sweep that is rejected means the iterate is stationary to float precision (converged).
  The Gram-form error cancels ``‖A‖²`` in float32, so "equal" means equal to ~1e-6 relative.

Defaults (``inner=10``, ``extrapolation=0.3``, random start) were picked by the number of sweeps to
reach scikit-learn ``cd``'s final error on the benchmark's data (rank-10 signal + ReLU noise):
50 000 × 2048: 13 sweeps (sklearn: 93 iterations; the former plain HALS with ``inner=3``: > 100);
20 000 × 1024, three seeds: 14–18 sweeps (sklearn 69–117; plain ``inner=3``: 38–57). ``inner`` in
5–20 and ``β₀`` in 0.3–0.7 were all within a few sweeps of each other; NNDSVDa needed as many
sweeps plus its SVD. NumPy input is put on the device without ``jnp.asarray``'s extra copy, and one
fused pass gives ``min``, ``max`` and ``‖A‖²`` for the input checks.

It is the factorisation of CRAFT (Fel et al. 2023) and Eq. 1 of the C2MF paper
(``A ≈ U W, U ≥ 0, W ≥ 0``). The loop is ``init → sweep → sweep ...`` run by ``lax.while_loop``
until the relative decrease of the squared error over an accepted sweep falls below ``tol`` or
``max_iter`` sweeps are done. :func:`nmf_error_history` runs the same sweeps under ``lax.scan`` and
returns the relative error after each.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconcepts.kernels._cd import hals_sweeps
from jaxconcepts.kernels._nmf_init import NMFState, nmf_init, nmf_init_nndsvda

__all__ = [
    "NMFState",
    "NMFResult",
    "nmf",
    "nmf_error_history",
    "nmf_init",
    "nmf_init_nndsvda",
    "nmf_step",
]


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



# extrapolation schedule of Ang & Gillis (2019), their defaults: β grows by γ (capped by β̄, which
# grows by γ̄ up to 1) after an accepted sweep; after a rejected one β shrinks by η and β̄ ← old β.
_ETA, _GAMMA, _GAMMA_BAR = 1.5, 1.01, 1.005


def _sq_error_t(norm_a2, Ut, WAt, WWt):
    """``‖A − UW‖² = ‖A‖² − 2⟨Uᵀ, W Aᵀ⟩ + ⟨UᵀU, WWᵀ⟩`` from the transposed codes ``Uᵀ`` (k × n),
    clamped at 0 (float32 cancellation)."""
    err = norm_a2 - 2.0 * jnp.vdot(Ut, WAt) + jnp.vdot(Ut @ Ut.T, WWt)
    return jnp.maximum(err, 0.0)


def _codes_t_times(Ut, A):
    """``Uᵀ A`` (k × c) from ``Uᵀ`` (k × n). ``U`` is materialised (``optimization_barrier`` stops
    XLA from folding the transpose into the dot) because XLA:CPU runs ``(n, k)ᵀ @ (n, c)`` about
    twice as fast as ``(k, n) @ (n, c)``; the transpose itself is ``O(nk)``."""
    U = lax.optimization_barrier(Ut.T)
    return U.T @ A


def nmf_step(A, state, norm_a2=None, inner=1):
    """One plain HALS sweep: every row of ``W``, then every column of ``U``, by exact NNLS updates.

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
    if norm_a2 is None:
        norm_a2 = jnp.vdot(A, A)
    # W rows: W_j ← max(0, W_j + ((UᵀA)_j − (UᵀU)_j W) / (UᵀU)_jj)
    W = hals_sweeps(W, U.T @ U, U.T @ A, inner)
    # U columns = rows of Uᵀ: U_:j ← max(0, U_:j + ((AWᵀ)_:j − U (WWᵀ)_:j) / (WWᵀ)_jj)
    WAt = W @ A.T
    WWt = W @ W.T
    Ut = hals_sweeps(U.T, WWt, WAt, inner)
    err = _sq_error_t(norm_a2, Ut, WAt, WWt)
    return NMFState(Ut.T, W, state.n_iter + 1, err, state.sq_error)


class _Carry(NamedTuple):
    """Loop state of the solver (codes stored transposed)."""

    Ut: jax.Array  # (k, n) accepted codes Uᵀ
    W: jax.Array  # (k, c) accepted dictionary
    Ut_prev: jax.Array  # (k, n) the accepted codes before them (extrapolation direction)
    n_iter: jax.Array  # sweeps done, rejected ones included
    sq_error: jax.Array  # ‖A − UW‖² of the accepted pair
    prev_sq_error: jax.Array  # the same before the last sweep
    beta: jax.Array  # extrapolation weight
    beta_max: jax.Array  # its current cap
    restart: jax.Array  # the last sweep was rejected: the next one is plain HALS
    converged: jax.Array


def _init_carry(A, k, key, init, extrapolation):
    st = (nmf_init_nndsvda if init == "nndsvda" else nmf_init)(A, k, key=key)
    Ut = st.U.T
    dt = A.dtype
    inf = jnp.asarray(jnp.inf, dt)
    return _Carry(Ut, st.W, Ut, jnp.int32(0), inf, inf, jnp.asarray(extrapolation, dt),
                  jnp.asarray(1.0, dt), jnp.asarray(False), jnp.asarray(False))


def _sweep(A, norm_a2, s, tol, inner):
    """One extrapolated HALS sweep (W rows, then U columns), kept only if the error doesn't grow."""
    beta = jnp.where(s.restart, 0.0, s.beta).astype(A.dtype)
    Ue = jnp.maximum(s.Ut + beta * (s.Ut - s.Ut_prev), 0.0)
    W_new = hals_sweeps(s.W, Ue @ Ue.T, _codes_t_times(Ue, A), inner)
    We = jnp.maximum(W_new + beta * (W_new - s.W), 0.0)
    WAt = We @ A.T  # (k, n)
    WWt = We @ We.T
    U_new = hals_sweeps(Ue, WWt, WAt, inner)
    err = _sq_error_t(norm_a2, U_new, WAt, WWt)  # exact for the pair (U_new, We)
    accept = err <= s.sq_error
    plain = beta == 0
    drop_small = jnp.isfinite(s.sq_error) & (s.sq_error - err <= tol * s.sq_error)
    # a plain HALS sweep cannot increase the error in exact arithmetic: rejected = stationary
    converged = jnp.where(accept, drop_small, plain)
    return _Carry(
        Ut=jnp.where(accept, U_new, s.Ut),
        W=jnp.where(accept, We, s.W),
        Ut_prev=s.Ut,
        n_iter=s.n_iter + 1,
        sq_error=jnp.where(accept, err, s.sq_error),
        prev_sq_error=s.sq_error,
        beta=jnp.where(accept, jnp.minimum(s.beta_max, s.beta * _GAMMA), s.beta / _ETA),
        beta_max=jnp.where(accept, jnp.minimum(1.0, s.beta_max * _GAMMA_BAR), s.beta),
        restart=~accept,
        converged=converged,
    )


def _result(s, norm_a2):
    rel = jnp.sqrt(s.sq_error / jnp.maximum(norm_a2, 1e-30))
    return NMFResult(s.Ut.T, s.W, s.n_iter, rel, s.converged)


@functools.partial(jax.jit, static_argnames=("k", "inner", "init"))
def _nmf(A, key, tol, max_iter, *, k, inner=10, init="random", extrapolation=0.3, norm_a2=None):
    norm_a2 = jnp.vdot(A, A) if norm_a2 is None else norm_a2
    s = _init_carry(A, k, key, init, extrapolation)
    s = lax.while_loop(lambda s: (s.n_iter < max_iter) & ~s.converged,
                       lambda s: _sweep(A, norm_a2, s, tol, inner), s)
    return _result(s, norm_a2)


@functools.partial(jax.jit, static_argnames=("k", "n_sweeps", "inner", "init"))
def _nmf_history(A, key, tol, *, k, n_sweeps, inner=10, init="random", extrapolation=0.3,
                 norm_a2=None):
    norm_a2 = jnp.vdot(A, A) if norm_a2 is None else norm_a2
    s = _init_carry(A, k, key, init, extrapolation)

    def body(s, _):
        # once converged the solver stops: the state (and the error) stay as they are
        s = lax.cond(s.converged, lambda s: s, lambda s: _sweep(A, norm_a2, s, tol, inner), s)
        return s, jnp.sqrt(s.sq_error / jnp.maximum(norm_a2, 1e-30))

    s, hist = lax.scan(body, s, None, length=n_sweeps)
    return _result(s, norm_a2), hist


@jax.jit
def _stats(A):
    """``min(A)``, ``max(A)`` (NaN-propagating) and ``‖A‖²`` in one fused pass over ``A``."""
    return jnp.min(A), jnp.max(A), jnp.vdot(A, A)


def _to_device(A):
    """NumPy input without a needless copy: ``device_put`` aliases a suitably aligned float32 buffer
    on CPU (and copies otherwise, about twice as fast as ``jnp.asarray``)."""
    if isinstance(A, np.ndarray) and A.dtype == np.float32:
        try:
            return jax.device_put(A, may_alias=True), True
        except TypeError:  # jax < 0.4.31: no may_alias
            return jax.device_put(A), False
    return jnp.asarray(A), False


def _checked(A, k, inner, init, extrapolation):
    """Validated device array, ``‖A‖²``, and whether it may alias a NumPy buffer."""
    A, aliased = _to_device(A)
    if A.ndim != 2:
        raise ValueError(f"A should be 2-D (n, c), got shape {A.shape}")
    n, c = A.shape
    if not (isinstance(k, int) and 1 <= k <= min(n, c)):
        raise ValueError(
            f"k={k} should be an int in [1, min(n, c)={min(n, c)}] for A of shape {A.shape}")
    if not jnp.issubdtype(A.dtype, jnp.floating):
        A = A.astype(jnp.float32)
    amin, amax, norm_a2 = _stats(A)  # one pass over A
    if not (np.isfinite(float(amin)) and np.isfinite(float(amax))):
        raise ValueError("A contains NaN or inf")
    if float(amin) < 0:
        raise ValueError(f"A should be non-negative for NMF, min(A)={float(amin):.4g}")
    if not (isinstance(inner, int) and inner >= 1):
        raise ValueError(f"inner={inner} should be an int >= 1")
    if init not in ("random", "nndsvda"):
        raise ValueError(f"init={init!r} should be one of 'random', 'nndsvda'")
    if not 0.0 <= float(extrapolation) <= 1.0:
        raise ValueError(f"extrapolation={extrapolation} should be in [0, 1]")
    return A, norm_a2, aliased


def nmf(A, k, *, key, max_iter=200, tol=1e-4, inner=10, init="random", extrapolation=0.3):
    """Factorise non-negative ``A ≈ U W`` with ``U ≥ 0`` (n, k) and ``W ≥ 0`` (k, c) by HALS.

    Eq. 1 of the C2MF paper; CRAFT's concept extraction. Deterministic for a given ``key``. The
    error ``‖A − UW‖`` never increases from one sweep to the next (see the module docstring).

    Args:
        A: ``(n, c)`` non-negative data (e.g. spatially averaged ReLU activations of crops).
        k: rank, the number of concepts; ``1 ≤ k ≤ min(n, c)``.
        key: PRNG key for the random start.
        max_iter: maximum HALS sweeps (each costs two ``n × k × c`` matmuls; rejected extrapolated
            sweeps count).
        tol: stop when the relative decrease of ``‖A − UW‖²`` over an accepted sweep is ``≤ tol``
            (or when a plain sweep no longer decreases it).
        inner: passes per block per sweep (see :func:`nmf_step`); 1 is plain HALS. The default was
            chosen on ``benchmarks/nmf.py`` (fewest seconds to scikit-learn's error).
        init: ``"random"`` (:func:`nmf_init`) or ``"nndsvda"`` (:func:`nmf_init_nndsvda`, costs
            about ten extra passes over ``A`` for its randomized SVD).
        extrapolation: initial extrapolation weight ``β₀ ∈ [0, 1]`` (Ang & Gillis 2019); 0 gives
            plain HALS with ``inner`` passes.

    Returns:
        :class:`NMFResult`.

    Raises:
        ValueError: if ``A`` is not 2-D, has negative or non-finite entries, or an argument is out
            of range.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter} should be >= 1")
    A, norm_a2, aliased = _checked(A, k, inner, init, extrapolation)
    res = _nmf(A, key, jnp.asarray(tol, A.dtype), jnp.int32(max_iter), k=k, inner=inner,
               init=init, extrapolation=extrapolation, norm_a2=norm_a2)
    # the caller's NumPy buffer may back A: finish reading it before handing control back
    return jax.block_until_ready(res) if aliased else res


def nmf_error_history(A, k, *, key, n_sweeps, tol=0.0, inner=10, init="random",
                      extrapolation=0.3):
    """Relative error ``‖A − UW‖_F / ‖A‖_F`` after each of ``n_sweeps`` sweeps of :func:`nmf`.

    Same start and sweeps as ``nmf(A, k, key=key, max_iter=n_sweeps, tol=tol, ...)``, recorded by
    ``lax.scan``: entry ``s - 1`` is the error :func:`nmf` reports with ``max_iter=s``; after the
    convergence test fires the entries stay constant (the solver would have stopped there). With
    the default ``tol=0`` that happens only when a sweep no longer decreases the error at float
    precision. Non-increasing by construction.

    Returns:
        ``(result, history)``: the :class:`NMFResult` after ``n_sweeps`` sweeps and a
        ``(n_sweeps,)`` array.
    """
    if not (isinstance(n_sweeps, int) and n_sweeps >= 1):
        raise ValueError(f"n_sweeps={n_sweeps} should be an int >= 1")
    A, norm_a2, aliased = _checked(A, k, inner, init, extrapolation)
    out = _nmf_history(A, key, jnp.asarray(tol, A.dtype), k=k, n_sweeps=n_sweeps, inner=inner,
                       init=init, extrapolation=extrapolation, norm_a2=norm_a2)
    return jax.block_until_ready(out) if aliased else out
