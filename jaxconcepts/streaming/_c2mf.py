"""C2MF streamed from the activation store: one exact block-coordinate step per pass.

**Choice: one step per pass** (not online with a forgetting factor). Each pass over the rows is
one outer iteration of the in-memory BCD solver (:mod:`jaxconcepts.concepts._c2mf_bcd`), with the
codes solved from scratch for every batch, so no code is ever stored:

1. per batch, the codes ``U`` of its rows: ``code_sweeps`` sweeps of exact box coordinate
   descent from ``U = 0`` with the current ``W`` and gates; then the batch's share of the
   per-class sufficient statistics ``P_y = U_yᵀU_y`` ``(Y, k, k)``, ``c_y = Σ u ⊙ (a Wᵀ)``
   ``(Y, k)``, ``T_y = U_yᵀ A_y`` ``(Y, k, c)`` and ``‖A_y‖²`` ``(Y,)``, summed over each
   device's batches, then once per pass over devices and processes (an all-reduce program of
   its own: :func:`~jaxconcepts.streaming._mesh.device_total`);
2. after the pass: the gate step on ``(P, c)`` (as in memory), then ``S = Σ_y diag(σ(λ_y)) T_y``
   and ``Q = Σ_y diag(g_y) P_y diag(g_y)`` with the **new** gates, then the exact row updates
   of W on the sphere, and the objective ``‖A‖² − 2⟨S, W⟩ + ⟨Q, WWᵀ⟩ + Σ α_y‖g_y‖₁``.

Why: each pass is a monotone block step of the same objective as the in-memory fit, the result
does not depend on the batch size, the number of devices or processes (only on summation order),
and the fit is a deterministic function of the key and the data (no shuffling needed). The cost
is one read of the store per iteration; ``T`` makes memory ``O(Y·k·c)``, independent of the rows.
An online update (Mairal et al. 2010) would need fewer passes but its iterates depend on the batch
order and size, which defeats "same dictionary on 1 or 8 devices".

The gate and dictionary steps run outside the sharded program, on identical replicated statistics
in every process (no ``eigh`` in any sharded program).
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.concepts._c2mf import (C2MF, _init_dictionary, check_c2mf_settings,
                                        warn_empty_classes)
from jaxconcepts.concepts._c2mf_bcd import (code_sweeps, codes_and_class_stats, converged_at,
                                            default_gate_optimizer, dictionary_update,
                                            gates_update, per_class)
from jaxconcepts.streaming._mesh import (data_mesh, device_stats_program, device_total, put_rows,
                                        replicate, zero_device_stats)

__all__ = ["fit_c2mf_streamed", "stream_c2mf_codes"]


@functools.lru_cache(maxsize=None)
def _stats_program(mesh, n_classes, n_sweeps):
    def fold(acc, W, lam, A, y):
        b, ch, c = A.shape
        Ap = A.reshape(b * ch, c)
        U0 = jnp.zeros((W.shape[0], b, ch), A.dtype)
        Ut, P, cvec = codes_and_class_stats(Ap, U0, y, W, lam, n_sweeps, sorted_classes=False)
        T = per_class(jnp.einsum("kbr,brc->bkc", Ut, A), y, n_classes, False)
        e = per_class(jnp.sum(A * A, axis=(1, 2)), y, n_classes, False)
        return tuple(a + d for a, d in zip(acc, (P, cvec, T, e)))

    return device_stats_program(mesh, fold, n_replicated=2)


def _pass_stats(rows, mesh, W, lam, n_sweeps):
    Y, (k, c) = lam.shape[0], W.shape
    prog = _stats_program(mesh, Y, int(n_sweeps))
    acc = zero_device_stats(mesh, *(np.zeros(s) for s in ((Y, k, k), (Y, k), (Y, k, c), (Y,))))
    Wr, lr = replicate(mesh, W), replicate(mesh, lam)
    for batch in rows:
        A, y = put_rows(mesh, batch.A, batch.y)
        acc = prog(acc, Wr, lr, A, y)
    return device_total(mesh, acc)


def fit_c2mf_streamed(rows, k: int, *, key: jax.Array, alpha: float, max_steps: int,
                      tol: float, code_sweeps: int, gate_steps: int, dict_sweeps: int,
                      learning_rate: float, init_rows: int, atom_norm: float | None = None,
                      optimizer=None, mesh=None, callback=None) -> C2MF:
    """Fit C2MF (Eq. 11, scale-free ``alpha``) to the rows of a store, streamed (module doc).

    Args:
        rows: a :class:`jaxconcepts.features.RowsView` (or anything with its attributes:
            iterable of ``RowBatch``, ``channels``, ``n_classes``, ``class_rows``, ``sample``).
        k: shared concepts.
        key: PRNG key (initial dictionary); the fit is a deterministic function of the key and
            the store.
        alpha: relative gate penalty, ``α_y = alpha ‖A(y)‖²`` (as :func:`fit_c2mf`).
        max_steps: passes over the store (one BCD iteration each).
        tol: stop when the objective fell by ≤ tol per pass, averaged over the last 5 passes.
        code_sweeps: box-CD sweeps (from U = 0) solving each batch's codes.
        gate_steps, dict_sweeps, learning_rate, optimizer: as :func:`fit_c2mf`.
        init_rows: rows sampled (whole shards, picked by key, the same on every process) for the
            initial dictionary and the default ``atom_norm`` (99th percentile of their norms).
        mesh: a 1-D ``Mesh`` with axis ``"data"`` (default: every device of every process).
        callback: called as ``callback(step, loss, seconds)`` after each pass.

    Returns:
        :class:`~jaxconcepts.concepts.C2MF`; ``fitted`` marks the classes with rows (the others
        are reported by a warning and have gates 0).
    """
    check_c2mf_settings(alpha=alpha, max_steps=max_steps, n_sweeps=code_sweeps,
                        dict_sweeps=dict_sweeps, gate_steps=gate_steps)
    mesh = data_mesh() if mesh is None else mesh
    k_sample, k_init = jax.random.split(key)
    seed = int(jax.random.randint(k_sample, (), 0, 2**31 - 1))
    sample, _ = rows.sample(int(init_rows), seed=seed)
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= min(sample.shape)):
        raise ValueError(f"k={k} should be an int in [1, min(sampled rows, channels)="
                         f"{min(sample.shape)}]")
    norms = np.linalg.norm(sample, axis=1)
    rho = float(atom_norm) if atom_norm is not None else float(np.quantile(norms, 0.99))
    if not rho > 0:
        raise ValueError(f"atom_norm={rho} should be > 0 (are the sampled rows all zeros?)")
    W = np.asarray(rho * _init_dictionary(sample, int(k), k_init, sample_rows=sample.shape[0]))
    del sample
    fitted = np.asarray(rows.class_rows) > 0
    warn_empty_classes(fitted)
    lam = jnp.zeros((rows.n_classes, int(k)), jnp.float32)
    optimizer = default_gate_optimizer(float(learning_rate)) if optimizer is None else optimizer
    opt_state = optimizer.init(lam)
    W = jnp.asarray(W)
    history, converged = [], False
    for step in range(int(max_steps)):
        t0 = time.perf_counter()
        P, cvec, T, energy = _pass_stats(rows, mesh, np.asarray(W), np.asarray(lam), code_sweeps)
        alpha_y = jnp.asarray(alpha * energy, jnp.float32)
        lam_new, opt_state, finite = gates_update(lam, opt_state, jnp.asarray(P),
                                                  jnp.asarray(cvec), W, alpha_y,
                                                  optimizer=optimizer, gate_steps=int(gate_steps))
        S = jnp.einsum("yk,ykc->kc", jax.nn.sigmoid(lam_new), jnp.asarray(T))
        W_new, loss = dictionary_update(W, S, jnp.asarray(P), lam_new,
                                        jnp.float32(energy.sum()), jnp.float32(rho), alpha_y,
                                        dict_sweeps=int(dict_sweeps))
        loss = float(loss)
        if not (bool(finite) and np.isfinite(loss) and bool(jnp.all(jnp.isfinite(W_new)))):
            raise FloatingPointError(f"streamed C2MF objective became non-finite at pass {step}")
        W, lam = W_new, lam_new
        history.append(loss)
        if callback is not None:
            callback(step, loss, time.perf_counter() - t0)
        if bool(converged_at(np.asarray(history), len(history), tol)):
            converged = True
            break
    return C2MF(W, lam, rho, np.asarray(history, np.float32), len(history), converged,
                jnp.asarray(fitted))


@functools.lru_cache(maxsize=None)
def _codes_program(mesh, n_sweeps):
    from jaxconcepts.streaming._mesh import row_sharding

    def codes(A, y, W, gates):
        b, ch, c = A.shape
        G = W @ W.T
        Bt = (W @ A.reshape(b * ch, c).T).reshape(W.shape[0], b, ch)
        Ut = code_sweeps(jnp.zeros_like(Bt), Bt, G, gates[y].T[:, :, None], n_sweeps)
        return jnp.transpose(Ut, (1, 2, 0))

    return jax.jit(codes, out_shardings=row_sharding(mesh))


def local_rows(x) -> np.ndarray:
    """This process's part of an array sharded on its leading axis, in order, as NumPy."""
    shards = sorted(x.addressable_shards, key=lambda s: s.index[0].start or 0)
    return np.concatenate([np.asarray(s.data) for s in shards])


def stream_c2mf_codes(model: C2MF, rows, *, code_sweeps: int, mesh=None):
    """Codes of new rows, streamed: yields ``(U (n_img, ch, k), batch)`` per batch of ``rows``
    (this process's images; padding images have ``batch.valid == False`` and zero codes)."""
    mesh = data_mesh() if mesh is None else mesh
    prog = _codes_program(mesh, int(code_sweeps))
    Wr, gr = replicate(mesh, np.asarray(model.W)), replicate(mesh, np.asarray(model.gates))
    for batch in rows:
        A, y = put_rows(mesh, batch.A, batch.y)
        yield local_rows(prog(A, y, Wr, gr)), batch
