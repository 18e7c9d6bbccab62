"""C2MF: a shared signed concept dictionary with per-class sigmoid gates (Eq. 10–11).

Objective (Eq. 11 of the C2MF paper), rows ``a_i`` of ``A`` with class ``y_i``:

    L(U, W, λ) = Σ_y ‖A(y) − U_y diag(σ(λ_y)) W‖²_F + Σ_y α_y ‖σ(λ_y)‖₁,   U ≥ 0, W signed.

**Scale-free gate penalty.** ``α_y = alpha · ‖A(y)‖²_F``: ``alpha`` is a fraction of class y's
own energy, so a concept keeps its gate open for class y only if it explains more than about
``alpha`` of that class's squared activation. The penalty is invariant to rescaling A and to the
number of rows of each class (the paper's α is in the units of the fit term, which change with
the backbone and the dataset size). ``alpha = 0`` is the unpenalised fit.

**Scale symmetries.** As written, L is invariant under ``(U_y[:, j] · t, σ(λ_y)_j / t)`` and
under ``(σ(λ)_{:, j} · t, W_j / t)``, so the L1 term would have no teeth. Both are removed:
every dictionary row has a fixed norm ``‖W_j‖ = ρ`` (``atom_norm``; default: the 99th percentile
of the row norms ``‖a_i‖``) and codes are bounded, ``0 ≤ U ≤ 1``. Then ``σ(λ_y)_j`` is the
largest share of an atom class y may use, in units of ρ, and shrinking a gate is not free.

**Solver.** Block coordinate descent (:mod:`jaxconcepts.concepts._c2mf_bcd`): exact box-CD on
the codes, a few optax steps on the gate logits (kept per class only if they decreased the
objective), exact row updates of W on the sphere; the objective comes free from the statistics.
The fit runs inside one jitted ``lax.while_loop``. For data larger than memory use
:func:`jaxconcepts.streaming.fit_c2mf_streamed` (codes never stored, any number of devices and
processes). The first implementation (Adam on ``(W, λ)``) lives on as a reference in
``benchmarks/_c2mf_adam.py``. **Convergence**: the objective fell by at most ``tol`` relatively
per step, averaged over the last 5 steps (``tol ≤ 0``: run all steps).

The fitted :class:`C2MF` is an equinox Module (a pytree: arrays are leaves, sizes and flags are
static), so it can be passed through ``jax.jit`` and ``vmap`` and saved with equinox.

Deterministic for a given ``key``. A non-finite objective stops the solver with a
``FloatingPointError`` naming the step; nothing non-finite is returned.
"""

from __future__ import annotations

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.concepts._c2mf_bcd import (default_gate_optimizer, fit_bcd_full, gather_rows,
                                            make_layout)
from jaxconcepts.concepts._protocol import check_rows_and_labels
from jaxconcepts.kernels._nnls import nnls_gram

__all__ = ["C2MF", "fit_c2mf", "c2mf_objective", "class_gate_weights", "init_dictionary",
           "normalise_rows", "row_norm_quantile"]


class C2MF(eqx.Module):
    """A fitted C2MF model (a :class:`~jaxconcepts.concepts._protocol.ConceptDecomposition`).

    Attributes:
        W: ``(k, c)`` shared signed dictionary, rows of norm ``atom_norm``.
        logits: ``(Y, k)`` per-class gate logits λ; gates are ``σ(λ)``.
        atom_norm: ρ, the fixed row norm of W (static).
        loss_history: objective after each outer iteration (one per pass when streamed).
        n_steps: outer iterations taken (static).
        converged: whether the tolerance was met before ``max_steps`` (static).
        fitted: ``(Y,)`` bool, classes that had rows (None: all); the gates of the others are 0.
    """

    W: jax.Array
    logits: jax.Array
    atom_norm: float = eqx.field(static=True)
    loss_history: np.ndarray
    n_steps: int = eqx.field(static=True)
    converged: bool = eqx.field(static=True)
    fitted: jax.Array | None = None

    @property
    def gates(self) -> jax.Array:
        """``(Y, k)`` σ(λ_y) in (0, 1); exactly 0 for classes without rows."""
        g = jax.nn.sigmoid(self.logits)
        if self.fitted is None:
            return g
        return jnp.where(jnp.asarray(self.fitted)[:, None], g, 0.0)

    @property
    def concepts(self) -> jax.Array:
        """``(Y, k, c)``: the shared W for every class (the protocol's per-class view)."""
        return jnp.broadcast_to(self.W, (self.logits.shape[0],) + self.W.shape)

    def transform(self, A, y, *, max_iter: int = 200, tol: float = 1e-5) -> jax.Array:
        """Codes ``U ∈ [0, 1]`` of new rows with W and the class gate fixed (box-NNLS, batched).

        Args:
            A: ``(n, c)`` activations.
            y: ``(n,)`` class of each row (the gate used).
        Returns:
            ``(n, k)`` codes; ``reconstruct(U, y) = (U ⊙ σ(λ_y)) W``.
        """
        A, y_np, _ = check_rows_and_labels(A, y, n_classes=self.logits.shape[0])
        if A.shape[1] != self.W.shape[1]:
            raise ValueError(f"A.shape[1]={A.shape[1]} should equal W.shape[1]={self.W.shape[1]}")
        return _transform(jnp.asarray(A, self.W.dtype), jnp.asarray(y_np), self.W, self.gates,
                          jnp.int32(max_iter), jnp.float32(tol))

    def reconstruct(self, U, y) -> jax.Array:
        """``(n, c)`` ``(U ⊙ σ(λ_y)) W`` (Eq. 10)."""
        return (jnp.asarray(U) * self.gates[jnp.asarray(y)]) @ self.W


@jax.jit
def _transform(A, y, W, gates, max_iter, tol):
    G = W @ W.T
    B = A @ W.T

    def one(b, s):
        return nnls_gram(b, G, scale=s, upper=1.0, max_iter=max_iter, tol=tol)[0]

    return jax.vmap(one)(B, gates[y])


def class_gate_weights(alpha, A, y, n_classes):
    """``(Y,)`` ``α_y = alpha · ‖A(y)‖²_F`` (the scale-free gate penalty, module docstring)."""
    A = np.asarray(A, np.float32)
    e = np.bincount(np.asarray(y), weights=np.einsum("ij,ij->i", A, A), minlength=n_classes)
    return alpha * e


def c2mf_objective(A, U, y, W, logits, *, alpha):
    """Eq. 11 evaluated directly (reference form, no Gram trick), relative alpha.

    Args:
        A: ``(n, c)`` rows; U: ``(n, k)`` codes; y: ``(n,)`` classes; W: ``(k, c)``;
        logits: ``(Y, k)``; alpha: the relative L1 weight (``α_y = alpha ‖A(y)‖²``).
    Returns:
        scalar ``Σ_y ‖A(y) − U_y diag(σ(λ_y)) W‖²_F + Σ_y α_y ‖σ(λ_y)‖₁``.
    """
    g = jax.nn.sigmoid(logits)
    R = A - (U * g[y]) @ W
    a_y = jnp.asarray(class_gate_weights(alpha, A, y, logits.shape[0]), jnp.float32)
    return jnp.sum(R * R) + jnp.sum(a_y[:, None] * g)


def normalise_rows(D):
    """Each row of ``D`` divided by its norm (zero rows stay zero)."""
    n = jnp.linalg.norm(D, axis=1, keepdims=True)
    return D / jnp.where(n > 0, n, 1.0)


def init_dictionary(A, k, key, sample_rows, chunk=65536):
    """C2MF's initial dictionary: k distinct rows of A drawn with probability ∝ their norm (by
    key), slightly perturbed, normalised.

    The candidates are ``sample_rows`` rows drawn by key; only their norms and the k picked rows
    are read (in chunks), never a copy of the pool."""
    n = A.shape[0]
    k_pool, k_pick, k_noise = jax.random.split(key, 3)
    pool = np.array(jax.random.permutation(k_pool, n))[: min(n, sample_rows)]
    pool.sort()
    norms = np.concatenate([np.linalg.norm(np.asarray(A[pool[i:i + chunk]], np.float32), axis=1)
                            for i in range(0, pool.size, chunk)])
    alive = norms > 0
    if alive.sum() < k:
        raise ValueError(
            f"k={k} should be <= the number of non-zero rows sampled ({int(alive.sum())}); "
            "the data do not support that many concepts")
    p = jnp.asarray(norms / norms.sum())
    pick = np.asarray(jax.random.choice(k_pick, pool.size, (k,), replace=False, p=p))
    D = jnp.asarray(np.asarray(A[pool[np.sort(pick)]], np.float32)[np.argsort(np.argsort(pick))])
    D = D + 1e-3 * jnp.linalg.norm(D, axis=1, keepdims=True) / math.sqrt(D.shape[1]) * \
        jax.random.normal(k_noise, D.shape)
    return normalise_rows(D)


def row_norm_quantile(A, q, chunk=65536):
    """The ``q`` quantile of the row norms of ``A`` (read in chunks; C2MF's default atom norm is
    the 0.99 quantile). Raises ``ValueError`` on NaN or inf."""
    norms = np.concatenate([np.linalg.norm(np.asarray(A[i:i + chunk], np.float32), axis=1)
                            for i in range(0, A.shape[0], chunk)])
    if not np.all(np.isfinite(norms)):
        bad = int(np.flatnonzero(~np.isfinite(norms))[0])
        raise ValueError(f"A contains NaN or inf (first in row {bad})")
    return float(np.quantile(norms, q))


def fit_c2mf(
    A,
    y,
    k: int,
    *,
    key: jax.Array,
    alpha: float = 1e-3,
    n_classes: int | None = None,
    atom_norm: float | None = None,
    max_steps: int = 500,
    tol: float = 1e-5,
    learning_rate: float = 0.05,
    optimizer=None,
    n_sweeps: int = 1,
    gate_steps: int = 10,
    dict_sweeps: int = 10,
) -> C2MF:
    """Fit C2MF (Eq. 11) to rows ``A`` with classes ``y`` (in memory).

    Args:
        A: ``(n, c)`` activations (rows = spatial positions of full images, any sign). A JAX or
            NumPy array (a NumPy memmap works: only its rows are copied, once).
        y: ``(n,)`` int class of each row (predicted class by default upstream).
        k: number of shared concepts, ``1 ≤ k ≤ min(n, c)``.
        key: PRNG key; the fit is a deterministic function of it.
        alpha: relative L1 weight on the gates: ``α_y = alpha · ‖A(y)‖²_F`` (module docstring).
            Default 1e-3, the pipeline's ``c2mf.alpha`` (chosen by the planted α sweep on a
            validation split: ``reports/planted/c2mf_alpha_sweep.md``).
        n_classes: Y (default ``max(y) + 1``); classes without rows are reported (a warning and
            ``fitted``) and their gates are 0.
        atom_norm: ρ, fixed norm of every dictionary row (default: 99th percentile of ‖a_i‖).
        max_steps: outer iterations.
        tol: convergence tolerance (module docstring); ``0`` runs all ``max_steps``.
        learning_rate: the default gate optimizer's rate
            (:func:`jaxconcepts.concepts._c2mf_bcd.default_gate_optimizer`).
        optimizer: any optax transformation of the ``(Y, k)`` gate logits (its ``update`` also
            gets ``value``/``grad``/``value_fn``, so ``optax.lbfgs()`` works).
        n_sweeps: coordinate-descent sweeps of the U-step per outer iteration.
        gate_steps: optimizer steps on the gate logits per outer iteration.
        dict_sweeps: passes of exact row updates of W per outer iteration.

    Returns:
        :class:`C2MF`.

    Raises:
        ValueError: bad shapes/labels, NaN in A, ``k`` larger than the data support.
        FloatingPointError: the objective became non-finite; the message names the step.
    """
    A, y_np, n_classes = check_rows_and_labels(A, y, n_classes=n_classes)
    n, c = A.shape
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= min(n, c)):
        raise ValueError(
            f"k={k} should be an int in [1, min(n_rows, n_channels)={min(n, c)}]: the data "
            f"(A of shape {A.shape}) do not support more concepts")
    k = int(k)
    check_c2mf_settings(alpha=alpha, max_steps=max_steps, n_sweeps=n_sweeps,
                        dict_sweeps=dict_sweeps, gate_steps=gate_steps)
    rho = float(atom_norm) if atom_norm is not None else row_norm_quantile(A, 0.99)
    if not rho > 0:
        raise ValueError(f"atom_norm={rho} should be > 0 (is A all zeros?)")
    fitted = np.bincount(y_np, minlength=n_classes) > 0
    warn_empty_classes(fitted)
    k_init, _ = jax.random.split(key)
    W = jnp.float32(rho) * init_dictionary(A, k, k_init, sample_rows=100_000)
    lam = jnp.zeros((n_classes, k), jnp.float32)
    if optimizer is None:
        optimizer = default_gate_optimizer(float(learning_rate))
    rho_j, alpha_j = jnp.float32(rho), jnp.float32(alpha)
    max_steps, n_sweeps, gate_steps, dict_sweeps = (int(v) for v in (max_steps, n_sweeps,
                                                                     gate_steps, dict_sweeps))
    layout = make_layout(y_np, n_classes)
    if isinstance(A, jax.Array):
        flat = layout.idx.reshape(-1)
        flat = jnp.asarray(np.where(flat >= 0, flat, A.shape[0]))  # out of range -> zero row
        Ap = jnp.take(jnp.asarray(A, jnp.float32), flat, axis=0, mode="fill", fill_value=0.0)
    else:
        Ap = jnp.asarray(gather_rows(A, layout.idx))
    W, lam, steps, history, bad, conv = fit_bcd_full(
        Ap, jnp.asarray(layout.cid), W, lam, rho_j, alpha_j, jnp.float32(tol),
        optimizer=optimizer, max_steps=max_steps, n_sweeps=n_sweeps, gate_steps=gate_steps,
        dict_sweeps=dict_sweeps, ch=layout.ch)
    bad = int(bad)
    if bad >= 0:
        raise FloatingPointError(
            f"C2MF objective became non-finite at step {bad}; check A for NaN/inf or the "
            "gate optimizer's settings")
    steps = int(steps)
    history, converged = np.asarray(history)[:steps], bool(conv)
    return C2MF(W, lam, rho, history, steps, converged, jnp.asarray(fitted))


def check_c2mf_settings(*, alpha, max_steps, n_sweeps, dict_sweeps, gate_steps):
    """Validate the solver's hyperparameters (shared with the streamed fit)."""
    if not (isinstance(alpha, (int, float, np.floating)) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha={alpha} should be a finite number >= 0")
    if max_steps < 1:
        raise ValueError(f"max_steps={max_steps} should be >= 1")
    if n_sweeps < 1 or dict_sweeps < 1 or gate_steps < 0:
        raise ValueError(f"n_sweeps={n_sweeps} and dict_sweeps={dict_sweeps} should be >= 1, "
                         f"gate_steps={gate_steps} >= 0")


def warn_empty_classes(fitted: np.ndarray) -> None:
    """Report classes without rows (their gates are 0 in the fitted model)."""
    empty = np.flatnonzero(~np.asarray(fitted))
    if empty.size:
        warnings.warn(f"C2MF: {empty.size} class(es) have no rows, their gates are 0: "
                      f"{empty[:20].tolist()}{' ...' if empty.size > 20 else ''}", stacklevel=3)
