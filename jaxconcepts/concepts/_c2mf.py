"""C2MF: a shared signed concept dictionary with per-class sigmoid gates (Eq. 10–11).

Objective (Eq. 11 of the C2MF paper), rows ``a_i`` of ``A`` with class ``y_i``:

    L(U, W, λ) = Σ_y ‖A(y) − U_y diag(σ(λ_y)) W‖²_F + α Σ_y ‖σ(λ_y)‖₁,   U ≥ 0, W signed.

**Scale.** As written, L is invariant under ``(U_y[:, j] · t, σ(λ_y)_j / t)`` (per class and
concept) and under ``(σ(λ)_{:, j} · t, W_j / t)`` (per concept), so the L1 term can be driven to 0 without
changing the fit and has no teeth. We remove both symmetries:

- every dictionary row has a fixed norm, ``‖W_j‖ = ρ`` (``atom_norm``; default: the 99th percentile
  of the row norms ``‖a_i‖``). ``bcd`` updates each row exactly on that sphere; ``adam`` optimises
  unit rows ``D`` (``W = ρ D``) and renormalises them after every optimiser step (the gradient is
  first projected onto the sphere's tangent space);
- codes are bounded, ``0 ≤ U ≤ 1`` (a box, kept by the exact coordinate-descent U-step).

Then ``σ(λ_y)_j`` is the largest share of an atom class ``y`` may use, in units of ``ρ``; shrinking
a gate is no longer free, and the L1 term trades fit for sparsity as α grows (tested). A concept no
row of class y needs gets a zero gradient from the fit and is pushed to ``σ → 0`` by the L1 term.

**Solvers.** ``fit_c2mf(..., solver=...)``:

- ``"bcd"`` (default) — block coordinate descent, every block step exact or safeguarded so the
  objective never increases (see :mod:`jaxconcepts.concepts._c2mf_bcd`). One outer iteration:
  (i) one sweep of exact box-CD on the codes U, all rows at once per coordinate (HALS columns);
  (ii) ``gate_steps`` optax steps (default Adam) on λ on the per-class k-dim quadratic
  ``σ(λ_y)ᵀ (U_yᵀU_y ∘ WWᵀ) σ(λ_y) − 2 c_yᵀσ(λ_y) + α‖σ(λ_y)‖₁`` built from class-wise Gram
  sums, kept per class only if it decreased; (iii) ``dict_sweeps`` passes of exact row updates of
  W on the sphere, ``W_j = ρ · normalize(S_j − Σ_{l≠j} Q_jl W_l)`` with ``S = VᵀA``, ``Q = VᵀV``,
  ``V = U ⊙ σ(λ_y)``. Two ``n × k × c`` matmuls per iteration (``A Wᵀ`` and ``Vᵀ A``); the
  objective comes free from the statistics. Rows are sorted by class into single-class chunks so
  the per-class Grams are batched matmuls. Why: the W- and U-sub-problems are least squares with
  closed-form block minimisers, so exact block steps converge in ~10× fewer iterations than
  first-order steps on (D, λ) (``benchmarks/c2mf.py``), and need no learning rate; the gates are a
  small non-convex (sigmoid) problem per class where a few cheap optax steps are the natural fit.
  Mini-batches: the same iteration streamed from the host in two passes per epoch (codes +
  class statistics, then ``VᵀA``), equal to the full-batch iterates up to summation order.
- ``"adam"`` — the first implementation, kept selectable: each step (i) solves U for the current
  rows by a few warm-started sweeps of box-constrained coordinate descent
  (:func:`jaxconcepts.kernels._nnls.cd_sweep`) and (ii) takes one optax step on ``(D, λ)`` with
  the gradient of L at that U (the envelope gradient of ``min_U L``), projected on the sphere's
  tangent space, then renormalises D. Fit term in Gram form; mini-batches take one optimiser step
  per batch with the fit of a batch scaled by ``n / batch`` (an unbiased estimate of L).

Both run full-batch data inside one jitted ``lax.while_loop``; with ``batch_size`` rows are streamed
from the host (NumPy arrays or memmaps) in a key-determined order. **Convergence**: ``bcd`` stops
when the objective fell by at most ``tol`` relatively per step, averaged over the last 5 steps
(``tol ≤ 0``: run all steps); ``adam`` when one step changed it by at most ``tol`` relatively.

Deterministic for a given ``key`` (init rows, batch order). A non-finite objective stops the solver
with a ``FloatingPointError`` naming the step; nothing non-finite is returned.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxconcepts.concepts._protocol import check_rows_and_labels
from jaxconcepts.concepts._c2mf_bcd import (default_gate_optimizer, fit_bcd_batched, fit_bcd_full,
                                            gather_rows, make_layout)
from jaxconcepts.kernels._nnls import cd_sweep, nnls_gram

__all__ = ["C2MF", "fit_c2mf", "c2mf_objective", "default_c2mf_optimizer"]


class C2MF(NamedTuple):
    """A fitted C2MF model (a :class:`~jaxconcepts.concepts._protocol.ConceptDecomposition`).

    Attributes:
        W: ``(k, c)`` shared signed dictionary, rows of norm ``atom_norm``.
        logits: ``(Y, k)`` per-class gate logits λ; gates are ``σ(λ)``.
        atom_norm: ρ, the fixed row norm of W.
        loss_history: objective after each outer iteration (``bcd``, full batch or mini-batch),
            per optimiser step (``adam`` full batch) or per epoch (``adam`` mini-batches).
        n_steps: outer iterations (``bcd``) or optimiser steps (``adam``) taken.
        converged: whether the tolerance was met before ``max_steps``.
    """

    W: jax.Array
    logits: jax.Array
    atom_norm: float
    loss_history: np.ndarray
    n_steps: int
    converged: bool

    @property
    def gates(self) -> jax.Array:
        """``(Y, k)`` σ(λ_y), in (0, 1)."""
        return jax.nn.sigmoid(self.logits)

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


# --------------------------------------------------------------------------------------------
# objective


def _fit_term(A, U, y, D, logits, rho):
    """Σ_i ‖a_i − (u_i ⊙ σ(λ_{y_i})) W‖² in Gram form (W = ρ D)."""
    W = rho * D
    V = U * jax.nn.sigmoid(logits)[y]
    err = jnp.vdot(A, A) - 2.0 * jnp.vdot(V, A @ W.T) + jnp.vdot(V.T @ V, W @ W.T)
    return jnp.maximum(err, 0.0)


def c2mf_objective(A, U, y, W, logits, *, alpha):
    """Eq. 11 evaluated directly (reference form, no Gram trick).

    Args:
        A: ``(n, c)`` rows; U: ``(n, k)`` codes; y: ``(n,)`` classes; W: ``(k, c)``;
        logits: ``(Y, k)``; alpha: L1 weight.
    Returns:
        scalar ``Σ_y ‖A(y) − U_y diag(σ(λ_y)) W‖²_F + α Σ_y ‖σ(λ_y)‖₁``.
    """
    g = jax.nn.sigmoid(logits)
    R = A - (U * g[y]) @ W
    return jnp.sum(R * R) + alpha * jnp.sum(jnp.abs(g))


def _loss(params, A, U, y, rho, alpha, weight):
    fit = _fit_term(A, U, y, params["D"], params["lam"], rho)
    return weight * fit + alpha * jnp.sum(jax.nn.sigmoid(params["lam"]))


def _u_step(A, U, y, D, logits, rho, n_sweeps):
    """Warm-started box-constrained coordinate descent for all rows (never increases L)."""
    W = rho * D
    G = W @ W.T
    B = A @ W.T
    gates = jax.nn.sigmoid(logits)[y]

    def row(u, b, s):
        return lax.fori_loop(0, n_sweeps, lambda _, u: cd_sweep(u, b, G, s, 1.0), u)

    return jax.vmap(row)(U, B, gates)


def _tangent(g, D):
    """Project a gradient onto the tangent space of the unit-row sphere at D."""
    return g - jnp.sum(g * D, axis=1, keepdims=True) * D


def _normalise_rows(D):
    n = jnp.linalg.norm(D, axis=1, keepdims=True)
    return D / jnp.where(n > 0, n, 1.0)


def _param_step(params, opt_state, A, U, y, rho, alpha, weight, optimizer):
    loss, grads = jax.value_and_grad(_loss)(params, A, U, y, rho, alpha, weight)
    grads = {"D": _tangent(grads["D"], params["D"]), "lam": grads["lam"]}
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    params = {"D": _normalise_rows(params["D"]), "lam": params["lam"]}
    return params, opt_state, loss


@functools.lru_cache(maxsize=32)
def default_c2mf_optimizer(n_channels: int, *, learning_rate: float = 0.05, max_steps: int = 500):
    """Adam with cosine decay; the dictionary's rate is ``learning_rate / sqrt(c)``.

    Adam's step is about ``learning_rate`` per coordinate; unit rows in ``c`` dimensions have
    coordinates of size ``~1/sqrt(c)``, hence the scaled rate for ``D``; logits use it as is.
    Cached, so repeated fits with the same settings reuse one compiled solver.
    """
    def sched(lr):
        return optax.cosine_decay_schedule(lr, max(int(max_steps), 1), alpha=0.02)

    return optax.multi_transform(
        {"D": optax.adam(sched(learning_rate / math.sqrt(n_channels))),
         "lam": optax.adam(sched(learning_rate))},
        {"D": "D", "lam": "lam"},
    )


# --------------------------------------------------------------------------------------------
# full-batch loop (on device)


class _LoopState(NamedTuple):
    params: Any
    opt_state: Any
    U: jax.Array
    step: jax.Array
    loss: jax.Array
    prev_loss: jax.Array
    history: jax.Array
    bad_step: jax.Array


@functools.partial(jax.jit, static_argnames=("optimizer", "max_steps", "n_sweeps"))
def _fit_full(A, y, params, rho, alpha, tol, *, optimizer, max_steps, n_sweeps):
    U0 = jnp.zeros((A.shape[0], params["D"].shape[0]), A.dtype)
    inf = jnp.asarray(jnp.inf, A.dtype)
    state = _LoopState(params, optimizer.init(params), U0, jnp.int32(0), inf, inf,
                       jnp.full((max_steps,), jnp.nan, A.dtype), jnp.int32(-1))

    def cond(s):
        rel = jnp.abs(s.prev_loss - s.loss) / jnp.maximum(jnp.abs(s.prev_loss), 1e-30)
        going = (s.step < 2) | ~(rel <= tol)
        return (s.step < max_steps) & going & (s.bad_step < 0)

    def body(s):
        U = _u_step(A, s.U, y, s.params["D"], s.params["lam"], rho, n_sweeps)
        params, opt_state, loss = _param_step(s.params, s.opt_state, A, U, y, rho, alpha, 1.0,
                                              optimizer)
        finite = jnp.isfinite(loss) & jnp.all(jnp.isfinite(params["D"])) & jnp.all(
            jnp.isfinite(params["lam"]))
        bad = jnp.where(finite, jnp.int32(-1), s.step)
        # keep the last finite iterate: a non-finite step is recorded, not applied
        params = jax.tree.map(lambda new, old: jnp.where(finite, new, old), params, s.params)
        U = jnp.where(finite, U, s.U)
        return _LoopState(params, opt_state, U, s.step + 1, loss, s.loss,
                          s.history.at[s.step].set(loss), bad)

    s = lax.while_loop(cond, body, state)
    rel = jnp.abs(s.prev_loss - s.loss) / jnp.maximum(jnp.abs(s.prev_loss), 1e-30)
    return s.params, s.step, s.history, s.bad_step, rel <= tol


# --------------------------------------------------------------------------------------------
# mini-batch loop (rows streamed from the host)


@functools.partial(jax.jit, static_argnames=("optimizer", "n_sweeps"))
def _batch_step(params, opt_state, A, U, y, rho, alpha, weight, *, optimizer, n_sweeps):
    U = _u_step(A, U, y, params["D"], params["lam"], rho, n_sweeps)
    params, opt_state, loss = _param_step(params, opt_state, A, U, y, rho, alpha, weight, optimizer)
    return params, opt_state, U, loss


def _fit_batched(A, y_np, params, rho, alpha, tol, key, *, optimizer, max_epochs, n_sweeps,
                 batch_size, progress):
    n, k = A.shape[0], params["D"].shape[0]
    U = np.zeros((n, k), np.float32)
    opt_state = optimizer.init(params)
    history, prev, converged, step = [], np.inf, False, 0
    n_batches = -(-n // batch_size)
    epochs = range(max_epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="C2MF epochs")
    for epoch in epochs:
        order = np.array(jax.random.permutation(jax.random.fold_in(key, epoch), n))
        total = 0.0
        for b in range(n_batches):
            idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
            m = idx.size
            Ab = np.zeros((batch_size, A.shape[1]), np.float32)
            Ab[:m] = A[idx]
            yb = np.zeros((batch_size,), np.int32)
            yb[:m] = y_np[idx]
            Ub = np.zeros((batch_size, k), np.float32)
            Ub[:m] = U[idx]
            new_params, new_opt, Ub_new, loss = _batch_step(
                params, opt_state, jnp.asarray(Ab), jnp.asarray(Ub), jnp.asarray(yb), rho, alpha,
                jnp.float32(n / m), optimizer=optimizer, n_sweeps=n_sweeps)
            loss = float(loss)
            if not (math.isfinite(loss) and bool(jnp.all(jnp.isfinite(new_params["D"])))
                    and bool(jnp.all(jnp.isfinite(new_params["lam"])))):
                raise FloatingPointError(
                    f"C2MF objective became non-finite at step {step} (epoch {epoch}, batch {b}); "
                    "check A for NaN/inf or lower the learning rate")
            params, opt_state = new_params, new_opt
            U[idx] = np.asarray(Ub_new)[:m]
            total += loss * m / n
            step += 1
        history.append(total)
        if math.isfinite(prev) and abs(prev - total) <= tol * abs(prev):
            converged = True
            break
        prev = total
    return params, step, np.asarray(history, np.float32), converged


# --------------------------------------------------------------------------------------------
# public entry point


def _init_dictionary(A, k, key, sample_rows, chunk=65536):
    """k distinct rows of A drawn with probability ∝ their norm (by key), normalised.

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
    return _normalise_rows(D)


def _row_norm_quantile(A, q, chunk=65536):
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
    alpha: float = 1.0,
    n_classes: int | None = None,
    atom_norm: float | None = None,
    max_steps: int = 500,
    tol: float | None = None,
    learning_rate: float = 0.05,
    optimizer: optax.GradientTransformation | None = None,
    n_sweeps: int | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    solver: str = "bcd",
    gate_steps: int = 10,
    dict_sweeps: int = 10,
) -> C2MF:
    """Fit C2MF (Eq. 11) to rows ``A`` with classes ``y``.

    Args:
        A: ``(n, c)`` activations (rows = spatial positions of full images, any sign). A JAX or
            NumPy array; with ``batch_size`` a NumPy memmap works (rows are read batch by batch).
        y: ``(n,)`` int class of each row (predicted class by default upstream).
        k: number of shared concepts, ``1 ≤ k ≤ min(n, c)``.
        key: PRNG key; the fit is a deterministic function of it.
        alpha: L1 weight on the gates (Eq. 11); in the units of the fit term (squared activation
            summed over rows).
        n_classes: Y (default ``max(y) + 1``); classes without rows get gates driven to 0.
        atom_norm: ρ, fixed norm of every dictionary row (default: 99th percentile of ‖a_i‖).
        max_steps: outer iterations (``bcd``; one per pass over the data with mini-batches), or
            optimiser steps (``adam`` full batch) / epochs (``adam`` mini-batches).
        tol: convergence tolerance (module docstring); default ``1e-5`` for ``bcd`` (about the
            float32 resolution of the Gram-form objective), ``1e-6`` for ``adam``; ``0`` runs all
            ``max_steps``.
        learning_rate: for the default optimizer (``bcd``: Adam on the gate logits,
            :func:`jaxconcepts.concepts._c2mf_bcd.default_gate_optimizer`; ``adam``:
            :func:`default_c2mf_optimizer`).
        optimizer: ``bcd``: any optax transformation of the ``(Y, k)`` gate logits (its
            ``update`` also gets ``value``/``grad``/``value_fn``, so ``optax.lbfgs()`` works);
            ``adam``: any optax transformation of ``{"D": (k, c), "lam": (Y, k)}``.
        n_sweeps: coordinate-descent sweeps of the U-step per step (default 1 for ``bcd``,
            3 for ``adam``).
        batch_size: rows per mini-batch; ``None`` = full batch on device (``bcd`` rounds it to
            whole single-class chunks of rows).
        progress: show a tqdm bar over epochs (mini-batch mode).
        solver: ``"bcd"`` (default) or ``"adam"`` (module docstring).
        gate_steps: ``bcd`` only: optimizer steps on the gate logits per outer iteration.
        dict_sweeps: ``bcd`` only: passes of exact row updates of W per outer iteration.

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
    if alpha < 0:
        raise ValueError(f"alpha={alpha} should be >= 0")
    if max_steps < 1:
        raise ValueError(f"max_steps={max_steps} should be >= 1")
    if batch_size is not None and not 1 <= batch_size:
        raise ValueError(f"batch_size={batch_size} should be >= 1 or None")
    rho = float(atom_norm) if atom_norm is not None else _row_norm_quantile(A, 0.99)
    if not rho > 0:
        raise ValueError(f"atom_norm={rho} should be > 0 (is A all zeros?)")
    k_init, k_order = jax.random.split(key)
    D = _init_dictionary(A, k, k_init, sample_rows=100_000)
    lam0 = jnp.zeros((n_classes, k), jnp.float32)
    batched = batch_size is not None and batch_size < n
    if solver not in ("bcd", "adam"):
        raise ValueError(f"solver={solver!r} should be 'bcd' or 'adam'")
    if tol is None:
        tol = 1e-5 if solver == "bcd" else 1e-6
    rho_j, alpha_j, tol_j = jnp.float32(rho), jnp.float32(alpha), jnp.float32(tol)
    if solver == "bcd":
        return _fit_bcd(A, y_np, n_classes, rho_j * D, lam0, rho, alpha_j, tol_j, k_order,
                        optimizer=optimizer, learning_rate=learning_rate, max_steps=max_steps,
                        n_sweeps=1 if n_sweeps is None else n_sweeps, gate_steps=gate_steps,
                        dict_sweeps=dict_sweeps,
                        batch_size=batch_size if batched else None, progress=progress)
    n_sweeps = 3 if n_sweeps is None else n_sweeps
    params = {"D": D, "lam": lam0}
    if optimizer is None:
        total_steps = max_steps * (-(-n // batch_size) if batched else 1)
        optimizer = default_c2mf_optimizer(c, learning_rate=learning_rate, max_steps=total_steps)

    if not batched:
        params, steps, history, bad, conv = _fit_full(
            jnp.asarray(A, jnp.float32), jnp.asarray(y_np), params, rho_j, alpha_j, tol_j,
            optimizer=optimizer, max_steps=int(max_steps), n_sweeps=int(n_sweeps))
        bad = int(bad)
        if bad >= 0:
            raise FloatingPointError(
                f"C2MF objective became non-finite at step {bad}; check A for NaN/inf or lower "
                "the learning rate")
        steps = int(steps)
        history, converged = np.asarray(history)[:steps], bool(conv)
    else:
        params, steps, history, converged = _fit_batched(
            A, y_np, params, rho_j, alpha_j, float(tol), k_order, optimizer=optimizer,
            max_epochs=int(max_steps), n_sweeps=int(n_sweeps), batch_size=int(batch_size),
            progress=progress)
    return C2MF(rho_j * params["D"], params["lam"], rho, history, steps, converged)


def _fit_bcd(A, y_np, n_classes, W, lam, rho, alpha, tol, key, *, optimizer, learning_rate,
             max_steps, n_sweeps, gate_steps, dict_sweeps, batch_size, progress):
    if optimizer is None:
        optimizer = default_gate_optimizer(float(learning_rate))
    n_sweeps, gate_steps, max_steps = int(n_sweeps), int(gate_steps), int(max_steps)
    dict_sweeps = int(dict_sweeps)
    if n_sweeps < 1 or dict_sweeps < 1 or gate_steps < 0:
        raise ValueError(f"n_sweeps={n_sweeps} and dict_sweeps={dict_sweeps} should be >= 1, "
                         f"gate_steps={gate_steps} >= 0")
    rho_j = jnp.float32(rho)
    if batch_size is None:
        layout = make_layout(y_np, n_classes)
        if isinstance(A, jax.Array):
            flat = layout.idx.reshape(-1)
            flat = jnp.asarray(np.where(flat >= 0, flat, A.shape[0]))  # out of range -> zero row
            Ap = jnp.take(jnp.asarray(A, jnp.float32), flat, axis=0, mode="fill", fill_value=0.0)
        else:
            Ap = jnp.asarray(gather_rows(A, layout.idx))
        W, lam, steps, history, bad, conv = fit_bcd_full(
            Ap, jnp.asarray(layout.cid), W, lam, rho_j, alpha, tol, optimizer=optimizer,
            max_steps=max_steps, n_sweeps=n_sweeps, gate_steps=gate_steps,
            dict_sweeps=dict_sweeps, ch=layout.ch)
        bad = int(bad)
        if bad >= 0:
            raise FloatingPointError(
                f"C2MF objective became non-finite at step {bad}; check A for NaN/inf or the "
                "gate optimizer's settings")
        steps = int(steps)
        history, converged = np.asarray(history)[:steps], bool(conv)
    else:
        ch = make_layout(y_np, n_classes).ch
        batch_chunks = max(1, int(batch_size) // ch)
        layout = make_layout(y_np, n_classes, multiple=batch_chunks)
        W, lam, steps, history, converged = fit_bcd_batched(
            A, layout, W, lam, rho_j, alpha, float(tol), key, optimizer=optimizer,
            max_epochs=max_steps, n_sweeps=n_sweeps, gate_steps=gate_steps,
            dict_sweeps=dict_sweeps, batch_chunks=batch_chunks, progress=progress)
    return C2MF(W, lam, float(rho), history, steps, converged)
