"""Reference: the first C2MF solver ("adam"), moved out of the library.

Each step (i) solves U for the current rows by a few warm-started sweeps of box-constrained
coordinate descent and (ii) takes one optax step on ``(D, λ)`` with the envelope gradient of
``min_U L``, projected on the sphere's tangent space, then renormalises D (``W = ρ D``).
Mini-batches take one optimiser step per batch with the fit scaled by ``n / batch``. Unlike the
library, ``alpha`` here is in the fit term's absolute units. Used by ``benchmarks/c2mf.py
--solver adam`` to compare against the BCD solver.
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

from jaxconcepts.concepts import (C2MF, check_rows_and_labels, init_dictionary, normalise_rows,
                                  row_norm_quantile)
from jaxconcepts.kernels import cd_sweep


def _fit_term(A, U, y, D, logits, rho):
    """Σ_i ‖a_i − (u_i ⊙ σ(λ_{y_i})) W‖² in Gram form (W = ρ D)."""
    W = rho * D
    V = U * jax.nn.sigmoid(logits)[y]
    err = jnp.vdot(A, A) - 2.0 * jnp.vdot(V, A @ W.T) + jnp.vdot(V.T @ V, W @ W.T)
    return jnp.maximum(err, 0.0)


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


def _param_step(params, opt_state, A, U, y, rho, alpha, weight, optimizer):
    loss, grads = jax.value_and_grad(_loss)(params, A, U, y, rho, alpha, weight)
    grads = {"D": _tangent(grads["D"], params["D"]), "lam": grads["lam"]}
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    params = {"D": normalise_rows(params["D"]), "lam": params["lam"]}
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


def fit_c2mf_adam(A, y, k, *, key, alpha=1.0, n_classes=None, atom_norm=None, max_steps=500,
                  tol=1e-6, learning_rate=0.05, optimizer=None, n_sweeps=3, batch_size=None):
    """An Adam solver of the C2MF objective (formerly in the library); returns a :class:`C2MF`."""
    A, y_np, n_classes = check_rows_and_labels(A, y, n_classes=n_classes)
    n, c = A.shape
    rho = float(atom_norm) if atom_norm is not None else row_norm_quantile(A, 0.99)
    k_init, k_order = jax.random.split(key)
    params = {"D": init_dictionary(A, k, k_init, sample_rows=100_000),
              "lam": jnp.zeros((n_classes, k), jnp.float32)}
    batched = batch_size is not None and batch_size < n
    if optimizer is None:
        total_steps = max_steps * (-(-n // batch_size) if batched else 1)
        optimizer = default_c2mf_optimizer(c, learning_rate=learning_rate, max_steps=total_steps)
    rho_j, alpha_j, tol_j = jnp.float32(rho), jnp.float32(alpha), jnp.float32(tol)
    if not batched:
        params, steps, history, bad, conv = _fit_full(
            jnp.asarray(A, jnp.float32), jnp.asarray(y_np), params, rho_j, alpha_j, tol_j,
            optimizer=optimizer, max_steps=int(max_steps), n_sweeps=int(n_sweeps))
        if int(bad) >= 0:
            raise FloatingPointError(f"C2MF objective became non-finite at step {int(bad)}")
        steps = int(steps)
        history, converged = np.asarray(history)[:steps], bool(conv)
    else:
        params, steps, history, converged = _fit_batched(
            A, y_np, params, rho_j, alpha_j, float(tol), k_order, optimizer=optimizer,
            max_epochs=int(max_steps), n_sweeps=int(n_sweeps), batch_size=int(batch_size),
            progress=False)
    return C2MF(rho_j * params["D"], params["lam"], rho, history, steps, converged)
