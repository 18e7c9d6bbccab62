"""Block-coordinate-descent solver for C2MF (the one ``fit_c2mf`` runs).

One outer iteration, with ``W = ρ D`` (rows of norm ρ), gates ``g_y = σ(λ_y)`` and the rows'
effective codes ``V = U ⊙ g_y``, is three block updates of the objective

    L = Σ_i ‖a_i − (u_i ⊙ g_{y_i}) W‖² + α Σ_y Σ_j g_yj,   0 ≤ U ≤ 1,  ‖W_j‖ = ρ,

each of which never increases L:

1. **codes** — ``n_sweeps`` sweeps of exact box-constrained coordinate descent, all rows at once
   per coordinate (HALS column updates; exact because each coordinate's sub-problem is a 1-D
   clipped quadratic). Uses ``B = A Wᵀ`` (one ``n × c × k`` matmul) and ``G = W Wᵀ``.
2. **gates** — per class the fit is a k-dim quadratic in g:
   ``q_y(g) = gᵀ (P_y ∘ G) g − 2 c_yᵀ g + α 1ᵀg`` with ``P_y = U_yᵀ U_y`` and
   ``c_yj = Σ_{i∈y} u_ij B_ij``. ``gate_steps`` steps of an optax optimizer (default Adam) on λ,
   then a per-class safeguard keeps λ_y only if ``q_y`` did not increase.
3. **dictionary** — with ``S = Vᵀ A`` (one more ``n × k × c`` matmul) and ``Q = Vᵀ V``
   (from the ``P_y``), each row in turn is set to its exact minimiser on the sphere,
   ``W_j = ρ · normalize(S_j − Σ_{l≠j} Q_jl W_l)`` (``n_sweeps`` passes over the rows).

The objective after step 3 is ``‖A‖² − 2⟨S, W⟩ + ⟨Q, W Wᵀ⟩ + α Σ g`` — free from the statistics.

**Row layout.** Rows are sorted by class and padded with zero rows into chunks of ``ch`` rows of
one class each, so per-class Gram matrices are one batched ``(k × ch) @ (ch × k)`` matmul plus a
sum over the chunks of each class (no scatter over rows). Codes are stored transposed, ``(k, n)``.
Zero rows with zero codes stay at zero and contribute nothing to any statistic.

**Rows larger than memory.** :func:`jaxconcepts.streaming.fit_c2mf_streamed` runs the same
block updates on statistics summed over a store's batches.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxconcepts.kernels import hals_sweeps

__all__ = ["Layout", "make_layout", "fit_bcd_full", "default_gate_optimizer"]

# classes up to this many: per-class sums over chunks by a one-hot matmul, else a sorted segment sum
_ONE_HOT_MAX_CLASSES = 64


class Layout(NamedTuple):
    """Host-side row layout: chunks of ``ch`` rows of a single class, sorted by class.

    Attributes:
        idx: ``(n_chunks, ch)`` row index into A, ``-1`` for a padding row.
        cid: ``(n_chunks,)`` class of each chunk (non-decreasing).
        ch: rows per chunk.
    """

    idx: np.ndarray
    cid: np.ndarray
    ch: int


def make_layout(y_np: np.ndarray, n_classes: int, *, max_pad: float = 0.125,
                max_chunk: int = 256, multiple: int = 1) -> Layout:
    """Sort rows by class into single-class chunks; padding at most ``max_pad`` of the rows
    (chunk size a power of two ≤ ``max_chunk``). ``multiple``: pad the number of chunks to a
    multiple of it with empty chunks (fixed batch shapes)."""
    n = y_np.shape[0]
    counts = np.bincount(y_np, minlength=n_classes)
    present = int((counts > 0).sum())
    ch = 1
    while ch * 2 <= max_chunk and present * (ch * 2 - 1) <= max_pad * n:
        ch *= 2
    order = np.argsort(y_np, kind="stable")
    per = -(-counts // ch)  # chunks per class
    n_chunks = int(per.sum())
    n_chunks_pad = -(-n_chunks // multiple) * multiple
    idx = np.full((n_chunks_pad, ch), -1, np.int64)
    cid = np.zeros((n_chunks_pad,), np.int32)
    start_row, start_chunk = 0, 0
    for cls in np.flatnonzero(counts):
        m, nc = int(counts[cls]), int(per[cls])
        block = np.full(nc * ch, -1, np.int64)
        block[:m] = order[start_row:start_row + m]
        idx[start_chunk:start_chunk + nc] = block.reshape(nc, ch)
        cid[start_chunk:start_chunk + nc] = cls
        start_row += m
        start_chunk += nc
    # empty trailing chunks keep class order non-decreasing
    cid[start_chunk:] = cid[start_chunk - 1] if start_chunk else 0
    return Layout(idx, cid, ch)


def gather_rows(A, idx: np.ndarray) -> np.ndarray:
    """``(idx.size, c)`` float32 rows of A (zeros where ``idx < 0``), read in increasing order."""
    flat = idx.reshape(-1)
    ok = flat >= 0
    out = np.zeros((flat.size, A.shape[1]), np.float32)
    rows = flat[ok]
    srt = np.argsort(rows, kind="stable")
    got = np.asarray(A[rows[srt]], np.float32)
    tmp = np.empty_like(got)
    tmp[srt] = got
    out[ok] = tmp
    return out


# --------------------------------------------------------------------------------------------
# block updates (pure functions of device arrays)


def per_class(X, cid, n_classes, sorted_classes=True):
    """Sum the ``(n_chunks, ...)`` per-chunk quantity X over the chunks of each class."""
    if n_classes <= _ONE_HOT_MAX_CLASSES:
        O = jax.nn.one_hot(cid, n_classes, dtype=X.dtype)
        return jnp.tensordot(O, X, axes=(0, 0))
    return jax.ops.segment_sum(X, cid, n_classes, indices_are_sorted=sorted_classes)


def _row_gates(g, cid, ch):
    """``(k, n_chunks, 1)`` gate of each row's class, broadcastable over the chunk's rows."""
    return g[cid].T[:, :, None]


#: bytes of one tile's codes in :func:`code_sweeps`: a tile's codes, effective codes and ``B``
#: stay in a core's cache through all the sweeps instead of streaming from memory per coordinate
_TILE_BYTES = 1 << 18


def code_sweeps(Ut, Bt, G, Sg, n_sweeps):
    """Exact box-CD on the codes, all rows per coordinate (HALS columns).

    The chunks are solved in tiles of at most :data:`_TILE_BYTES` of codes, one tile after
    another: each row's coordinates depend on that row alone, so the tiles give the same codes
    as one pass over every chunk, with the working set in cache.

    Args:
        Ut: ``(k, n_chunks, ch)`` codes in [0, 1]; Bt: same shape, ``A Wᵀ`` transposed;
        G: ``(k, k)`` ``W Wᵀ``; Sg: ``(k, n_chunks, 1)`` row gates; n_sweeps: static.
    """
    k, n_chunks, ch = Ut.shape
    n_tiles = -(-n_chunks // max(1, _TILE_BYTES // (Ut.dtype.itemsize * k * ch)))
    tile = -(-n_chunks // n_tiles)  # equal tiles: at most n_tiles - 1 padded chunks
    if n_tiles == 1:
        return _sweeps(Ut, Bt, G, Sg, n_sweeps)
    pad = n_tiles * tile - n_chunks  # padded chunks: zero codes, B and gates, and stay zero

    def tiles(x):
        x = jnp.broadcast_to(x, (k, n_chunks) + x.shape[2:])
        x = jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2))
        return jnp.moveaxis(x.reshape((k, n_tiles, tile) + x.shape[2:]), 1, 0)

    out = lax.map(lambda t: _sweeps(t[0], t[1], G, t[2], n_sweeps), (tiles(Ut), tiles(Bt),
                                                                      tiles(Sg)))
    return jnp.moveaxis(out, 0, 1).reshape(k, n_tiles * tile, ch)[:, :n_chunks]


def _sweeps(Ut, Bt, G, Sg, n_sweeps):
    """:func:`code_sweeps` on one tile of chunks: gated HALS on the box [0, 1]."""
    return hals_sweeps(Ut, G, Bt, n_sweeps, scale=Sg, upper=1.0)


def codes_and_class_stats(Ap, Ut, cid, W, lam, n_sweeps, sorted_classes=True):
    """Step 1 and the per-class statistics of step 2 for one batch of chunks.

    Args:
        Ap: ``(n_chunks * ch, c)`` rows in layout order; Ut: ``(k, n_chunks, ch)``.
    Returns:
        ``(Ut, P (Y, k, k), cvec (Y, k))``.
    """
    k, n_chunks, ch = Ut.shape
    n_classes = lam.shape[0]
    G = W @ W.T
    Bt = (W @ Ap.T).reshape(k, n_chunks, ch)
    Ut = code_sweeps(Ut, Bt, G, _row_gates(jax.nn.sigmoid(lam), cid, ch), n_sweeps)
    Pc = jnp.einsum("ibr,jbr->bij", Ut, Ut)
    P = per_class(Pc, cid, n_classes, sorted_classes)
    cvec = per_class(jnp.sum(Ut * Bt, axis=2).T, cid, n_classes, sorted_classes)
    return Ut, P, cvec


def gate_objective(lam, P, cvec, G, alpha):
    """``(Y,)`` per-class ``q_y(σ(λ_y))`` (the fit up to the constant ‖A_y‖², plus α_y‖g_y‖₁);
    ``alpha`` is a scalar or the ``(Y,)`` per-class weights."""
    g = jax.nn.sigmoid(lam)
    quad = jnp.einsum("yi,yij,ij,yj->y", g, P, G, g)
    return quad - 2.0 * jnp.sum(cvec * g, axis=1) + alpha * jnp.sum(g, axis=1)


def gate_step(lam, opt_state, P, cvec, G, alpha, *, optimizer, gate_steps):
    """Step 2: ``gate_steps`` optax steps on λ, then keep each class's λ only if q_y fell.

    The optimizer's ``update`` also receives ``value``, ``grad`` and ``value_fn`` (the gate
    objective), so line-search methods such as ``optax.lbfgs()`` work as well as Adam.

    Returns ``(lam, opt_state, finite)``; ``finite`` is False if the optimizer produced a
    non-finite λ (the caller stops with an error)."""
    opt = optax.with_extra_args_support(optimizer)

    def total(l):
        return jnp.sum(gate_objective(l, P, cvec, G, alpha))

    q0 = gate_objective(lam, P, cvec, G, alpha)

    def one(_, carry):
        l, s = carry
        value, grad = jax.value_and_grad(total)(l)
        upd, s = opt.update(grad, s, l, value=value, grad=grad, value_fn=total)
        return optax.apply_updates(l, upd), s

    new, opt_state = lax.fori_loop(0, gate_steps, one, (lam, opt_state))
    finite = jnp.all(jnp.isfinite(new))
    q1 = gate_objective(new, P, cvec, G, alpha)
    keep = (q1 <= q0)[:, None]
    return jnp.where(keep | ~finite, new, lam), opt_state, finite


def dictionary_sweeps(W, S, Q, rho, n_sweeps):
    """Step 3: each row to ``ρ · normalize(S_j − Σ_{l≠j} Q_jl W_l)``, exact on the sphere."""
    k = W.shape[0]
    dQ = jnp.diag(Q)

    def row(t, W):
        j = t % k
        z = S[j] - Q[j] @ W + dQ[j] * W[j]
        nz = jnp.linalg.norm(z)
        ok = nz > 1e-30 * jnp.maximum(rho, 1.0)
        return W.at[j].set(jnp.where(ok, (rho / jnp.where(ok, nz, 1.0)) * z, W[j]))

    return lax.fori_loop(0, k * n_sweeps, row, W)


def effective_gram(P, g):
    """``Q = Vᵀ V = Σ_y diag(g_y) P_y diag(g_y)``."""
    return jnp.einsum("yi,yij,yj->ij", g, P, g)


def effective_cross(Ap, Ut, cid, lam):
    """``S = Vᵀ A`` for one batch: ``(k, c)``."""
    k, n_chunks, ch = Ut.shape
    Vt = Ut * _row_gates(jax.nn.sigmoid(lam), cid, ch)
    return Vt.reshape(k, n_chunks * ch) @ Ap


def objective_from_stats(normA2, S, Q, W, lam, alpha):
    """``‖A‖² − 2⟨S, W⟩ + ⟨Q, W Wᵀ⟩ + Σ_y α_y ‖σ(λ_y)‖₁`` (alpha scalar or ``(Y,)``)."""
    fit = normA2 - 2.0 * jnp.vdot(S, W) + jnp.vdot(Q, W @ W.T)
    return jnp.maximum(fit, 0.0) + jnp.sum(jnp.reshape(alpha, (-1, 1)) * jax.nn.sigmoid(lam))


def class_energy(Ap, cid, n_classes, sorted_classes=True):
    """``(Y,)`` ``‖A_y‖²_F`` of the rows (the scale of the relative alpha)."""
    e = jnp.sum(jnp.square(Ap).reshape(cid.shape[0], -1), axis=1)
    return per_class(e, cid, n_classes, sorted_classes)


@functools.lru_cache(maxsize=32)
def default_gate_optimizer(learning_rate: float = 0.05) -> optax.GradientTransformation:
    """Adam at a constant rate on the gate logits (several steps per outer iteration).

    ``b2 = 0.9`` (a short second-moment memory): a gate on its way to 0 has a geometrically
    shrinking gradient, which the default ``b2 = 0.999`` would turn into ever smaller steps.
    Cached, so repeated fits with the same rate reuse one compiled solver."""
    return optax.adam(learning_rate, b2=0.9)


# --------------------------------------------------------------------------------------------
# full batch: one lax.while_loop on device


class _State(NamedTuple):
    W: jax.Array
    lam: jax.Array
    opt_state: Any
    Ut: jax.Array
    step: jax.Array
    history: jax.Array
    bad_step: jax.Array


# convergence: the objective fell by at most ``tol`` (relative) per step, averaged over this many
WINDOW = 5


def converged_at(history, step, tol):
    """Whether ``history[:step]`` has ``L[t-W] - L[t] <= W · tol · |L[t]|`` at its last entry
    (``t = step - 1``, ``W = WINDOW``); never true for ``tol <= 0`` (run all steps)."""
    t = step - 1
    ok = (tol > 0) & (t >= WINDOW)
    cur = history[jnp.maximum(t, 0)]
    old = history[jnp.maximum(t - WINDOW, 0)]
    return ok & (old - cur <= WINDOW * tol * jnp.abs(cur))


@functools.partial(jax.jit, static_argnames=("optimizer", "max_steps", "n_sweeps", "gate_steps",
                                             "dict_sweeps", "ch"))
def fit_bcd_full(Ap, cid, W, lam, rho, alpha, tol, *, optimizer, max_steps, n_sweeps, gate_steps,
                 dict_sweeps, ch):
    """Full-batch BCD; ``Ap`` is ``(n_chunks * ch, c)`` in layout order.

    Returns ``(W, lam, n_steps, history, bad_step, converged)``."""
    k = W.shape[0]
    n_chunks = cid.shape[0]
    normA2 = jnp.vdot(Ap, Ap)
    alpha = alpha * class_energy(Ap, cid, lam.shape[0])  # relative -> per-class weights
    state = _State(W, lam, optimizer.init(lam), jnp.zeros((k, n_chunks, ch), Ap.dtype),
                   jnp.int32(0), jnp.full((max_steps,), jnp.nan, Ap.dtype), jnp.int32(-1))

    def cond(s):
        done = converged_at(s.history, s.step, tol)
        return (s.step < max_steps) & ~done & (s.bad_step < 0)

    def body(s):
        Ut, P, cvec = codes_and_class_stats(Ap, s.Ut, cid, s.W, s.lam, n_sweeps)
        lam, opt_state, finite = gate_step(s.lam, s.opt_state, P, cvec, s.W @ s.W.T, alpha,
                                           optimizer=optimizer, gate_steps=gate_steps)
        S = effective_cross(Ap, Ut, cid, lam)
        Q = effective_gram(P, jax.nn.sigmoid(lam))
        W = dictionary_sweeps(s.W, S, Q, rho, dict_sweeps)
        loss = objective_from_stats(normA2, S, Q, W, lam, alpha)
        finite = finite & jnp.isfinite(loss) & jnp.all(jnp.isfinite(W))
        bad = jnp.where(finite, jnp.int32(-1), s.step)
        W, lam, Ut = (jnp.where(finite, a, b) for a, b in ((W, s.W), (lam, s.lam), (Ut, s.Ut)))
        return _State(W, lam, opt_state, Ut, s.step + 1, s.history.at[s.step].set(loss), bad)

    s = lax.while_loop(cond, body, state)
    return s.W, s.lam, s.step, s.history, s.bad_step, converged_at(s.history, s.step, tol)
