"""Two non-SAE dictionaries for the scoreboard, in memory: SemiNMF and k-means as a dictionary.

**SemiNMF** (Ding, Li & Jordan 2010): ``A ≈ U W`` with codes ``U ≥ 0`` and a signed dictionary
``W`` (``k, c``). Alternating updates (their §3, Eq. 11–12):

- ``W ← (UᵀU)⁻¹ UᵀA`` (exact least squares; a ridge of ``1e-6 · tr(UᵀU)/k`` keeps it well posed
  when a code column vanishes);
- ``U ← U ⊙ √[((AWᵀ)⁺ + U (WWᵀ)⁻) / ((AWᵀ)⁻ + U (WWᵀ)⁺)]`` with ``X⁺ = max(X, 0)``,
  ``X⁻ = max(−X, 0)``: multiplicative, monotone in ``‖A − UW‖²`` (their Theorem 1).

Start: ``W`` = ``k`` key-chosen rows of ``A``, ``U = max(A W⁺, 0) + δ`` (``W⁺`` the
pseudo-inverse, δ a small positive floor so that multiplicative updates can move every entry).
The fitted dictionary's rows are scaled to unit norm (codes scaled inversely: the same product).
New rows are coded by the same multiplicative updates against the fixed ``W``.

**k-means dictionary**: Lloyd's k-means on the rows (start: ``k`` key-chosen rows; empty
clusters keep their centroid). Concepts are the unit centroid directions ``ĉ_j``; a row's code
is one-hot at its nearest centroid (Euclidean), with value ``max(0, ⟨a, ĉ_j⟩)``, so
``reconstruct`` gives the row's projection on its centroid's direction. This is the "k-means"
line of saev's coverage table: one concept per row, no superposition.

Both are equinox Modules with ``concepts`` ``(Y, k, c)`` (one dictionary broadcast to Y
classes), ``transform(A, y)`` and ``reconstruct(U, y)``, ``y`` ignored.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["KMeansDictionary", "SemiNMF", "fit_kmeans_dictionary", "fit_seminmf"]


def _check(A, k, name):
    A = np.asarray(A, np.float32)
    if A.ndim != 2 or A.shape[0] == 0:
        raise ValueError(f"A should be a non-empty 2-D (n, c) array, got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError(f"{name}: A has NaN/Inf entries")
    if not 1 <= k <= A.shape[0]:
        raise ValueError(f"{name}: k={k} should be in [1, n_rows={A.shape[0]}]")
    return A


def _unit(W):
    n = jnp.linalg.norm(W, axis=1, keepdims=True)
    return W / jnp.where(n > 0, n, 1.0), n[:, 0]


def _mu_codes(A, W, U, n_iter):
    """``n_iter`` multiplicative SemiNMF code updates against a fixed ``W``."""
    AW = A @ W.T
    G = W @ W.T
    AWp, AWn = jnp.maximum(AW, 0), jnp.maximum(-AW, 0)
    Gp, Gn = jnp.maximum(G, 0), jnp.maximum(-G, 0)

    def body(_, U):
        return U * jnp.sqrt((AWp + U @ Gn) / jnp.maximum(AWn + U @ Gp, 1e-12))

    return lax.fori_loop(0, n_iter, body, U)


def _start_codes(A, W):
    U = jnp.maximum(A @ jnp.linalg.pinv(W), 0.0)
    return U + 0.01 * jnp.maximum(jnp.mean(U), 1e-6)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _seminmf(A, W0, max_iter, code_iters):
    U0 = _start_codes(A, W0)

    def step(carry, _):
        U, W = carry
        G = U.T @ U
        ridge = 1e-6 * jnp.trace(G) / G.shape[0] + 1e-12
        W = jnp.linalg.solve(G + ridge * jnp.eye(G.shape[0]), U.T @ A)
        U = _mu_codes(A, W, U, code_iters)
        err = jnp.linalg.norm(A - U @ W) / jnp.linalg.norm(A)
        return (U, W), err

    (U, W), errs = lax.scan(step, (U0, W0), None, length=max_iter)
    return U, W, errs


class SemiNMF(eqx.Module):
    """Fitted SemiNMF: ``W (k, c)`` unit rows; ``error_history`` ``‖A − UW‖/‖A‖`` per step."""

    W: jax.Array
    error_history: np.ndarray
    n_classes: int = eqx.field(static=True, default=1)
    code_iters: int = eqx.field(static=True, default=100)

    @property
    def concepts(self) -> jax.Array:
        return jnp.broadcast_to(self.W, (self.n_classes, *self.W.shape))

    def transform(self, A, y=None) -> jax.Array:
        A = jnp.asarray(A, jnp.float32)
        return _mu_codes(A, self.W, _start_codes(A, self.W), self.code_iters)

    def reconstruct(self, U, y=None) -> jax.Array:
        return jnp.asarray(U) @ self.W


def fit_seminmf(A, k: int, *, key, max_iter: int = 100, code_iters: int = 5,
                n_classes: int = 1) -> SemiNMF:
    """SemiNMF of rows ``A`` ``(n, c)`` with ``k`` atoms (module docstring); ``code_iters``
    multiplicative code updates per dictionary update. Raises ValueError on bad input and
    FloatingPointError if the error becomes non-finite."""
    A = _check(A, k, "SemiNMF")
    if max_iter < 1 or code_iters < 1:
        raise ValueError(f"max_iter={max_iter} and code_iters={code_iters} should be >= 1")
    idx = np.asarray(jax.random.choice(key, A.shape[0], (k,), replace=False))
    _, W, errs = _seminmf(jnp.asarray(A), jnp.asarray(A[idx]), int(max_iter), int(code_iters))
    errs = np.asarray(errs, np.float64)
    if not np.isfinite(errs).all():
        raise FloatingPointError(f"SemiNMF (k={k}) diverged: non-finite error at step "
                                 f"{int(np.flatnonzero(~np.isfinite(errs))[0])}")
    W, _ = _unit(W)
    return SemiNMF(W=W, error_history=errs, n_classes=int(n_classes))


def _nearest(A, C, block: int = 1024):
    """Each row's nearest centroid ``(n,)`` (the first on ties, as ``argmin``) and its
    ``‖C_j‖² − 2⟨a, C_j⟩`` ``(n,)``, over blocks of ``block`` rows (``lax.map``): the ``(n, k)``
    distances never exist at once, and the label is a plain min over the column indices where
    the row's minimum is reached (XLA's CPU ``argmin`` is a slow two-operand reduction)."""
    n, c = A.shape
    block = min(block, n)
    nb = -(-n // block)
    Ab = jnp.pad(A, ((0, nb * block - n), (0, 0))).reshape(nb, block, c)
    cc = jnp.sum(C * C, 1)

    def one(a):
        d = cc[None, :] - 2 * a @ C.T
        dmin = jnp.min(d, axis=1)
        cols = lax.broadcasted_iota(jnp.int32, d.shape, 1)
        return jnp.min(jnp.where(d == dmin[:, None], cols, d.shape[1]), axis=1), dmin

    lab, dmin = lax.map(one, Ab)
    return lab.reshape(-1)[:n], dmin.reshape(-1)[:n]


@functools.partial(jax.jit, static_argnums=(2,))
def _lloyd(A, C0, n_iter):
    """``n_iter`` Lloyd steps from ``C0``: ``(centroids, inertia per step)``; the new centroids
    are per-cluster sums of rows (``segment_sum``, ``n c`` adds, not a one-hot product)."""
    sq = jnp.sum(A * A, 1)

    def step(C, _):
        lab, dmin = _nearest(A, C)
        cnt = jnp.zeros((C.shape[0],), A.dtype).at[lab].add(1.0)
        tot = jax.ops.segment_sum(A, lab, C.shape[0])
        new = jnp.where(cnt[:, None] > 0, tot / jnp.maximum(cnt, 1)[:, None], C)
        return new, jnp.sum(dmin + sq)

    return lax.scan(step, C0, None, length=n_iter)


class KMeansDictionary(eqx.Module):
    """Fitted k-means dictionary: ``centroids (k, c)``; ``concepts`` their unit directions."""

    centroids: jax.Array
    inertia_history: np.ndarray
    n_classes: int = eqx.field(static=True, default=1)

    @property
    def W(self) -> jax.Array:
        return _unit(self.centroids)[0]

    @property
    def concepts(self) -> jax.Array:
        return jnp.broadcast_to(self.W, (self.n_classes, *self.W.shape))

    def transform(self, A, y=None) -> jax.Array:
        A = jnp.asarray(A, jnp.float32)
        C = self.centroids
        lab = jnp.argmin(jnp.sum(C * C, 1)[None, :] - 2 * A @ C.T, axis=1)
        proj = jnp.maximum(jnp.take_along_axis(A @ self.W.T, lab[:, None], axis=1), 0.0)
        return jax.nn.one_hot(lab, C.shape[0], dtype=A.dtype) * proj

    def reconstruct(self, U, y=None) -> jax.Array:
        return jnp.asarray(U) @ self.W


def fit_kmeans_dictionary(A, k: int, *, key, n_iter: int = 50,
                          n_classes: int = 1) -> KMeansDictionary:
    """Lloyd's k-means with ``k`` centroids on rows ``A`` ``(n, c)`` (module docstring)."""
    A = _check(A, k, "k-means dictionary")
    if n_iter < 1:
        raise ValueError(f"n_iter={n_iter} should be >= 1")
    idx = np.asarray(jax.random.choice(key, A.shape[0], (k,), replace=False))
    C, inertia = _lloyd(jnp.asarray(A), jnp.asarray(A[idx]), int(n_iter))
    return KMeansDictionary(centroids=C, inertia_history=np.asarray(inertia, np.float64),
                            n_classes=int(n_classes))
