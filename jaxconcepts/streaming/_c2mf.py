"""C2MF streamed from the activation store: exact block-coordinate steps on per-pass statistics.

Each pass over the rows computes, per batch, the codes ``U`` of its rows from scratch
(``code_sweeps`` sweeps of exact box coordinate descent from ``U = 0`` with the current ``W`` and
gates; :mod:`jaxconcepts.concepts._c2mf_bcd`), so no code is ever stored, and adds the batch's
share of the per-class sufficient statistics ``P_y = U_yᵀU_y`` ``(Y, k, k)``,
``T_y = U_yᵀ A_y`` ``(Y, k, c)`` and ``‖A_y‖²`` ``(Y,)``. They are summed per device and then,
once per pass (or group), over devices and processes in an all-reduce program of its own
(:func:`~jaxconcepts.mesh.device_total`). With the codes fixed, the whole objective is a
function of these sums:

    L(W, g) = Σ_y ‖A_y‖² − 2⟨S, W⟩ + ⟨Q, W Wᵀ⟩ + Σ_y α_y ‖g_y‖₁,
    S = Σ_y diag(g_y) T_y,   Q = Σ_y diag(g_y) P_y diag(g_y),   c_y = diag(T_y Wᵀ),

Four parts of the schedule can cut the passes a fit needs (the benchmark ``python -m benchmarks
c2mf_scale`` measures each against one step per pass; the README gives its figures). Rounds and
extrapolation are on by default; the warm start and the online pass are off (the warm start
moved the planted fits to another local optimum, with a lower objective but C2MF's insertion
score outside its interval; the online pass did not win on the benchmark):

- **rounds on the sums** (``stat_rounds``): after a pass, the gate step on ``(P, c)`` and the
  exact row updates of ``W`` on the sphere (``S``, ``Q`` with the new gates) are repeated on the
  same sums, each round a monotone block step costing two ``Y·k·c`` contractions, against a
  re-read of the store for a pass. The objective after the last round is the pass's history entry.
- **a warm start** (``init_steps``): the in-memory solver (:func:`~jaxconcepts.concepts.fit_c2mf`,
  codes kept between its iterations) run for that many iterations on the ``init_rows`` sampled
  rows, from the start below; its dictionary and the gates of the classes it saw start the
  streamed fit. ``0``: start from ``k`` sampled rows drawn ∝ their norm, all gates ½.
- **extrapolation** between passes (``extrapolate``; Ang & Gillis 2019 for NMF): the next pass's
  codes are solved against ``W + β(W − W_prev)`` (rows back on the sphere) and
  ``λ + β(λ − λ_prev)``; β grows ×1.5 (up to ``β̄``) after a pass whose objective fell, and after
  one whose objective rose above the best so far ``β̄ ← β``, ``β ← β/2`` and the next pass
  restarts from the best fit, without extrapolation (``β̄`` creeps back up ×1.05 on success).
  The history may rise where an extrapolation overshot; convergence is judged on the best
  objective so far, and the fit returned is the best non-extrapolated one (its objective is the
  history's minimum).
- **an online first pass** (``update_shards``; Mairal et al. 2010, Alg. 2): the gates and ``W``
  updated from the running sums after every group of ``update_shards`` consecutive shards
  (:meth:`RowsView.groups`: a group holds the same rows whatever the number of processes),
  each group's codes solved with the dictionary of the group before. The running sums are plain
  sums, so at the end of the pass they are its totals and its history entry is their objective.

With ``stat_rounds=1, init_steps=0, extrapolate=False, update_shards=None`` every pass is one
outer iteration of the in-memory solver with codes from zero (tested equal).

The iterates depend on the key and the data only (no shuffling) and, with an online pass, on the
group size; not on the batch size or the number of devices or processes beyond summation order
(an extrapolation's β follows a comparison of two objectives, which such noise could flip only
when they are equal to float precision). Gate and dictionary steps run outside the sharded
programs, on identical replicated statistics in every process (no ``eigh`` in any sharded
program). Batches stream in the store's dtype and layout and are transposed and cast to float32
on the device; a non-finite ``‖A_y‖²`` makes the checked reader name the shard and row. Memory is
``O(Y·k·c)``, independent of the rows.
"""

from __future__ import annotations

import functools
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconcepts._malloc import warn_if_untuned
from jaxconcepts.concepts._c2mf import (C2MF, check_c2mf_settings, fit_c2mf, init_dictionary,
                                        warn_empty_classes)
from jaxconcepts.concepts._c2mf_bcd import (code_sweeps, codes_and_class_stats, converged_at,
                                            default_gate_optimizer, dictionary_sweeps,
                                            effective_gram, gate_step, objective_from_stats,
                                            per_class)
from jaxconcepts.mesh import (data_mesh, device_stats_program, device_total, put_rows, replicate,
                              row_sharding, zero_device_stats)

__all__ = ["fit_c2mf_streamed", "stream_c2mf_codes"]


@functools.lru_cache(maxsize=None)
def _stats_program(mesh, n_classes, n_sweeps):
    def fold(acc, W, lam, A, y):
        b, ch, c = A.shape
        U0 = jnp.zeros((W.shape[0], b, ch), A.dtype)
        Ut, P, _ = codes_and_class_stats(A.reshape(b * ch, c), U0, y, W, lam, n_sweeps,
                                         sorted_classes=False)
        T = per_class(jnp.einsum("kbr,brc->bkc", Ut, A), y, n_classes, False)
        e = per_class(jnp.sum(A * A, axis=(1, 2)), y, n_classes, False)
        return tuple(a + d for a, d in zip(acc, (P, T, e)))

    step = device_stats_program(mesh, fold, n_replicated=2)
    # stored layout (b, c, ch) and dtype in; transposed and cast on the device, in a program of
    # its own (as the streamed NMF: folded into the step, the transpose slowed the dots)
    rows = jax.jit(lambda A: jnp.swapaxes(A, 1, 2).astype(jnp.float32),
                   out_shardings=row_sharding(mesh))
    return lambda acc, A, y, W, lam: step(acc, W, lam, rows(A), y)


def _group_sums(rows, mesh, prog, shards_per_group, state, update):
    """Stream one pass in groups; after each group's sums ``(P, T, ‖A_y‖²)`` (every device and
    process) call ``state = update(state, sums)``; the codes of a group use the ``W`` and gates
    of ``state`` as it was when the group began. Returns the last state."""
    Y, (k, c) = rows.n_classes, state[0].shape

    def fresh(state):
        acc = zero_device_stats(mesh, np.zeros((Y, k, k)), np.zeros((Y, k, c)), np.zeros(Y))
        return acc, replicate(mesh, np.asarray(state[0])), replicate(mesh, np.asarray(state[1]))

    acc, Wr, lr = fresh(state)
    for batch, last in rows.groups(shards_per_group, raw=True):
        acc = prog(acc, *put_rows(mesh, batch.A, batch.y), Wr, lr)
        if last:
            sums = device_total(mesh, acc)
            if not np.all(np.isfinite(sums[2])):
                for _ in rows:  # the checked reader names the shard and row
                    pass
                raise ValueError("NaN/Inf activations in the shards of another process")
            state = update(state, sums)
            acc, Wr, lr = fresh(state)
    return state


@functools.partial(jax.jit, static_argnames=("optimizer", "gate_steps", "dict_sweeps", "rounds"))
def block_rounds(W, lam, opt_state, P, T, energy, alpha, rho, *, optimizer, gate_steps,
                 dict_sweeps, rounds):
    """``rounds`` × (gate step, exact dictionary sweeps) on fixed codes' sums (module doc).

    Returns ``(W, lam, opt_state, finite, loss)``; ``loss`` is the objective after the last round
    and ``finite`` False if any round produced a non-finite value."""
    alpha_y = alpha * energy
    normA2 = jnp.sum(energy)

    def one(carry, _):
        W, lam, s, ok = carry
        cvec = jnp.einsum("ykc,kc->yk", T, W)
        lam, s, finite = gate_step(lam, s, P, cvec, W @ W.T, alpha_y, optimizer=optimizer,
                                   gate_steps=gate_steps)
        g = jax.nn.sigmoid(lam)
        S = jnp.einsum("yk,ykc->kc", g, T)
        Q = effective_gram(P, g)
        W_new = dictionary_sweeps(W, S, Q, rho, dict_sweeps)
        loss = objective_from_stats(normA2, S, Q, W_new, lam, alpha_y)
        ok = ok & finite & jnp.isfinite(loss) & jnp.all(jnp.isfinite(W_new))
        return (W_new, lam, s, ok), loss

    (W, lam, opt_state, ok), losses = lax.scan(one, (W, lam, opt_state, jnp.bool_(True)), None,
                                               length=rounds)
    return W, lam, opt_state, ok, losses[-1]


def _start(rows, k, key, init_rows, atom_norm, init_steps, settings):
    """``(W, λ, ρ)``: the start on ``init_rows`` sampled rows (whole shards picked by key, the same
    on every process): k of them drawn ∝ their norm, then ``init_steps`` iterations of the
    in-memory solver on all of them (module doc); ``ρ`` defaults to the 99th percentile of their
    norms."""
    k_sample, k_init = jax.random.split(key)
    seed = int(jax.random.randint(k_sample, (), 0, 2**31 - 1))
    sample, ys = rows.sample(int(init_rows), seed=seed)
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= min(sample.shape)):
        raise ValueError(f"k={k} should be an int in [1, min(sampled rows, channels)="
                         f"{min(sample.shape)}]")
    norms = np.linalg.norm(sample, axis=1)
    rho = float(atom_norm) if atom_norm is not None else float(np.quantile(norms, 0.99))
    if not rho > 0:
        raise ValueError(f"atom_norm={rho} should be > 0 (are the sampled rows all zeros?)")
    lam = jnp.zeros((rows.n_classes, int(k)), jnp.float32)
    if not init_steps:
        W = rho * init_dictionary(sample, int(k), k_init, sample_rows=sample.shape[0])
        return jnp.asarray(W), lam, rho
    with warnings.catch_warnings():  # classes missing from the sample: their gates start at ½
        warnings.simplefilter("ignore")
        m = fit_c2mf(sample, ys, int(k), key=k_init, n_classes=rows.n_classes, atom_norm=rho,
                     max_steps=int(init_steps), tol=0.0, n_sweeps=1, **settings)
    return jnp.asarray(m.W), jnp.asarray(m.logits), rho


class _Extrapolation:
    """β of the extrapolation between passes, and the best fit so far (module doc)."""

    def __init__(self, beta: float = 0.5):
        self.beta, self.cap, self.prev, self.best = beta, 1.0, None, None

    def __call__(self, W, lam, rho, loss):
        """The point the next pass's codes are solved against, after a pass that gave
        ``(W, lam)`` with objective ``loss``."""
        if self.best is not None and not loss < self.best[2]:  # overshot: back to the best
            self.cap, self.beta = self.beta, self.beta / 2
            self.prev = self.best[:2]
            return self.best[:2]
        if self.best is not None:
            self.beta, self.cap = min(self.cap, 1.5 * self.beta), min(1.0, 1.05 * self.cap)
        prev, self.prev, self.best = self.prev, (W, lam), (W, lam, loss)
        if prev is None:
            return W, lam
        We = W + self.beta * (W - prev[0])
        n = jnp.linalg.norm(We, axis=1, keepdims=True)
        We = jnp.where(n > 0, rho / jnp.where(n > 0, n, 1.0) * We, W)
        return We, lam + self.beta * (lam - prev[1])


def _check_settings(*, alpha, max_steps, code_sweeps, dict_sweeps, gate_steps, stat_rounds,
                    init_steps, update_shards) -> None:
    """:func:`fit_c2mf_streamed`'s settings, before anything runs (ValueError naming the one)."""
    check_c2mf_settings(alpha=alpha, max_steps=max_steps, n_sweeps=code_sweeps,
                        dict_sweeps=dict_sweeps, gate_steps=gate_steps)
    for name, v, low in (("stat_rounds", stat_rounds, 1), ("init_steps", init_steps, 0)):
        if not (isinstance(v, (int, np.integer)) and v >= low):
            raise ValueError(f"{name}={v!r} should be an int >= {low}")
    if update_shards is not None and not (isinstance(update_shards, (int, np.integer))
                                          and update_shards >= 1):
        raise ValueError(f"update_shards={update_shards!r} should be an int >= 1 or None (no "
                         "online first pass)")


def fit_c2mf_streamed(rows, k: int, *, key: jax.Array, alpha: float, max_steps: int,
                      tol: float, code_sweeps: int, gate_steps: int, dict_sweeps: int,
                      learning_rate: float, init_rows: int, stat_rounds: int = 5,
                      init_steps: int = 0, extrapolate: bool = True,
                      update_shards: int | None = None, atom_norm: float | None = None,
                      optimizer=None, mesh=None, callback=None) -> C2MF:
    """Fit C2MF (Eq. 11, scale-free ``alpha``) to the rows of a store, streamed (module doc).

    Args:
        rows: a :class:`jaxconcepts.store.RowsView` (or anything with its attributes:
            ``groups``, iteration, ``channels``, ``n_classes``, ``class_rows``, ``sample``).
        k: shared concepts.
        key: PRNG key (sampled rows, initial dictionary); the fit is a deterministic function of
            the key, the store and ``update_shards``.
        alpha: relative gate penalty, ``α_y = alpha ‖A(y)‖²`` (as :func:`fit_c2mf`).
        max_steps: passes over the store.
        tol: stop when the best objective so far fell by ≤ tol per pass, averaged over the last
            5 passes.
        code_sweeps: box-CD sweeps (from U = 0) solving each batch's codes.
        gate_steps, dict_sweeps, learning_rate, optimizer: as :func:`fit_c2mf`, per round.
        init_rows: rows sampled (whole shards, picked by key, the same on every process) for the
            start and the default ``atom_norm`` (99th percentile of their norms).
        stat_rounds: rounds of (gate step, dictionary sweeps) on each pass's (or group's) sums.
        init_steps: in-memory iterations on the sampled rows for the start (0: sampled rows).
        extrapolate: extrapolate ``W`` and the gate logits between passes.
        update_shards: None, no online pass; an int, an online first pass updating after every
            group of that many shards.
        mesh: a 1-D ``Mesh`` with axis ``"data"`` (default: every device of every process).
        callback: called as ``callback(step, loss, seconds)`` after each pass.

    Returns:
        :class:`~jaxconcepts.concepts.C2MF`; ``fitted`` marks the classes with rows (the others
        are reported by a warning and have gates 0).

    Raises:
        ValueError: bad settings, NaN/Inf activations (naming the shard and row).
        FloatingPointError: the objective became non-finite.
    """
    warn_if_untuned("fit_c2mf_streamed")
    _check_settings(alpha=alpha, max_steps=max_steps, code_sweeps=code_sweeps,
                    dict_sweeps=dict_sweeps, gate_steps=gate_steps, stat_rounds=stat_rounds,
                    init_steps=init_steps, update_shards=update_shards)
    mesh = data_mesh() if mesh is None else mesh
    optimizer = default_gate_optimizer(float(learning_rate)) if optimizer is None else optimizer
    solver = dict(optimizer=optimizer, gate_steps=int(gate_steps), dict_sweeps=int(dict_sweeps))
    W, lam, rho = _start(rows, k, key, init_rows, atom_norm, int(init_steps),
                         dict(alpha=float(alpha), **solver))
    fitted = np.asarray(rows.class_rows) > 0
    warn_empty_classes(fitted)
    prog = _stats_program(mesh, rows.n_classes, int(code_sweeps))
    alpha, rho_j = jnp.float32(alpha), jnp.float32(rho)

    def update(state, sums):
        W, lam, opt_state = state[:3]
        P, T, e = (jnp.asarray(s, jnp.float32) for s in sums)
        W, lam, opt_state, ok, loss = block_rounds(W, lam, opt_state, P, T, e, alpha, rho_j,
                                                   rounds=int(stat_rounds), **solver)
        return W, lam, opt_state, bool(ok), float(loss)

    running = None  # the online pass's sums so far

    def accumulate(state, sums):  # online: update from the running sums after every group
        nonlocal running
        running = sums if running is None else tuple(a + b for a, b in zip(running, sums))
        return update(state, running)

    state = (W, lam, optimizer.init(lam), True, float("nan"))
    extra = _Extrapolation() if extrapolate else None
    history, converged = [], False
    for step in range(int(max_steps)):
        t0 = time.perf_counter()
        if step == 0 and update_shards is not None:
            state = _group_sums(rows, mesh, prog, int(update_shards), state, accumulate)
            running = None
        else:
            state = _group_sums(rows, mesh, prog, len(rows.files), state, update)
        W, lam, _, ok, loss = state
        if not (ok and np.isfinite(loss)):
            raise FloatingPointError(f"streamed C2MF objective became non-finite at pass {step}")
        history.append(loss)
        if callback is not None:
            callback(step, loss, time.perf_counter() - t0)
        if extra is not None:
            state = extra(W, lam, rho, loss) + state[2:]
        # on the best objective so far: an overshooting extrapolation is no false convergence
        if bool(converged_at(np.minimum.accumulate(history), len(history), tol)):
            converged = True
            break
    if extra is not None:  # the best fit, not an overshoot's
        W, lam = extra.best[:2]
    return C2MF(W, lam, rho, np.asarray(history, np.float32), len(history), converged,
                jnp.asarray(fitted))


@functools.lru_cache(maxsize=None)
def _codes_program(mesh, n_sweeps):
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
