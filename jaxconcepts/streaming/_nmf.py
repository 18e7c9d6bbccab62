"""Per-class NMF (CRAFT's factorisation, Eq. 1 of the C2MF paper) and per-class PCA, streamed.

**NMF** ``A(y) ≈ U_y W_y``, ``U, W ≥ 0``. Per batch, each image's codes are solved from
``U = 0`` by HALS sweeps against its class's ``W_y`` (to convergence, at most ``code_sweeps``);
the batch adds ``P_y = U_yᵀU_y`` ``(Y, k, k)``, ``T_y = U_yᵀA_y`` ``(Y, k, c)`` and ``‖A_y‖²``.
A dictionary update is ``dict_sweeps`` exact HALS row sweeps
``W_yj = max(0, W_yj + (T_yj − P_y[j] W_y) / P_y[jj])``; the error
``Σ_y ‖A_y‖² − 2⟨T_y, W_y⟩ + ⟨P_y, W_y W_yᵀ⟩`` comes from the sums. Two schedules
(``update_shards``, the param ``c2mf.nmf_update_shards``):

- **Online first pass** (an int; the pipeline's choice). Start: ``k`` rows of each class drawn
  by the key. During the first pass ``W`` is updated after every group of ``update_shards``
  consecutive shards from running sums with forgetting ``P ← βP + P_g``, ``T ← βT + T_g``,
  ``β_t = (1 − 1/t)^forget`` (Mairal et al. 2010, Alg. 2 and §3.4; scikit-learn's MiniBatchNMF
  does the same per mini-batch), each row projected on ``{w ≥ 0, ‖w‖ ≤ 1}``. A group holds the
  same rows whatever the number of processes (:meth:`RowsView.groups`), so the fit does not
  depend on it. On the 0.5 M × 2048 benchmark store the dictionary after the first group
  (16 k rows, 3 % of a pass) already has the error MiniBatchNMF reaches in one epoch. Every later
  pass is one exact alternating step (below): monotone, converging where the other schedule does.
- **One step per pass** (None): start from the in-memory :func:`jaxconcepts.kernels.nmf` on each
  class's rows of a key-chosen sample of ``init_rows`` rows (:func:`_init_nmf`); after each pass
  one update from the pass's sums, then atoms scaled to unit norm (the next pass re-solves the
  codes, so this is free, and it keeps NNLS on W well posed).

Batches stream in the store's dtype and layout (float16 / bfloat16 / float32, ``(n, c, h·w)``)
and are transposed and cast to float32 on the device (no host conversion, no torch); a non-finite
sum of squares after a group makes the checked reader name the shard and row.

Every sum is accumulated per device over a group or pass and reduced over devices and processes
once per group or pass (:func:`~jaxconcepts.mesh.device_stats_program`).

**PCA** per class: counts, sums ``(Y, c)`` and Grams ``(Y, c, c)`` accumulated per device,
then the covariance's ``eigh`` on the host in
float64 — outside any sharded program. Memory ``O(Y·c²)``.
"""

from __future__ import annotations

import functools
import time

import equinox as eqx

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconcepts._malloc import warn_if_untuned
from jaxconcepts.concepts._c2mf_bcd import converged_at, per_class
from jaxconcepts.concepts._pca_baseline import PCABaseline
from jaxconcepts.kernels import hals_sweeps, nmf
from jaxconcepts.mesh import (data_mesh, device_stats_program, device_total, put_rows, replicate,
                              row_sharding, zero_device_stats)

__all__ = ["StreamedNMF", "fit_nmf_streamed", "fit_pca_streamed", "nmf_codes", "nmf_error"]


class StreamedNMF(eqx.Module):
    """Per-class NMF dictionaries (``ConceptDecomposition``-like: ``concepts``, ``reconstruct``).

    Attributes:
        W: ``(Y, k, c)`` non-negative dictionaries; error_history: ``‖A − UW‖_F / ‖A‖_F`` per pass;
        fitted: ``(Y,)`` classes with rows.
    """

    W: jax.Array
    error_history: np.ndarray
    fitted: jax.Array

    @property
    def concepts(self) -> jax.Array:
        return self.W

    def reconstruct(self, U, y) -> jax.Array:
        return jnp.einsum("nk,nkc->nc", jnp.asarray(U), self.W[jnp.asarray(y)])


CODE_TOL = 1e-4  # code sweeps stop once no code moves by more than this × the largest code


def nmf_codes(A, y, W, n_sweeps):
    """``(k, b, ch)`` codes of images ``A (b, ch, c)`` of classes ``y`` against ``W[y]``: HALS
    from zero until a sweep moves no code by more than :data:`CODE_TOL` × the largest code, at most
    ``n_sweeps`` sweeps (a sweep costs ``O(rows·k²)``, against ``O(rows·k·c)`` for ``A W[y]ᵀ``).
    Inexact codes bias the dictionary update: at 10 fixed sweeps the streamed fit of planted crops
    stalled 20 % above the in-memory error.

    Codes are laid out code-first, so each coordinate update reads and writes one contiguous
    ``(b, ch)`` slab, and ``A W[y]ᵀ`` is computed with the rows' axis before the codes' (XLA's CPU
    dot is several times slower with the small code axis in the middle)."""
    G = jnp.einsum("ykc,ylc->ykl", W, W)[y]  # (b, k, k)
    Bt = jnp.moveaxis(jnp.einsum("brc,bkc->brk", A, W[y]), 2, 0)  # (k, b, ch)
    # one HALS sweep per image (a Gram matrix each), codes kept code-first (k, b, ch)
    sweep = jax.vmap(lambda U, G, B: hals_sweeps(U, G, B, 1), in_axes=(1, 0, 1), out_axes=1)

    def cond(state):
        _, it, moved = state
        return (it < n_sweeps) & (moved > CODE_TOL)

    def body(state):
        U, it, _ = state
        new = sweep(U, G, Bt)
        moved = jnp.max(jnp.abs(new - U)) / jnp.maximum(jnp.max(new), 1e-30)
        return new, it + 1, moved

    U0 = jnp.zeros_like(Bt)
    return lax.while_loop(cond, body, (U0, jnp.int32(0), jnp.float32(jnp.inf)))[0]


@functools.lru_cache(maxsize=None)
def _nmf_program(mesh, n_classes, n_sweeps):
    def fold(acc, W, A, y):
        A = A.astype(jnp.float32)
        Ut = nmf_codes(A, y, W, n_sweeps)
        Pb = per_class(jnp.einsum("kbr,lbr->bkl", Ut, Ut), y, n_classes, False)
        Tb = per_class(jnp.einsum("kbr,brc->bkc", Ut, A), y, n_classes, False)
        e = per_class(jnp.sum(A * A, axis=(1, 2)), y, n_classes, False)
        return (acc[0] + Pb, acc[1] + Tb, acc[2] + e, jnp.minimum(acc[3], jnp.min(A)))

    step = device_stats_program(mesh, fold, n_replicated=1)
    # batches come in the stored layout (b, c, ch) and dtype: transposed and cast on the device,
    # not on the host, in a program of its own (inside the step XLA folded the transpose into
    # the dots' operand layouts, which made the step several times slower on CPU)
    rows = jax.jit(lambda A: jnp.swapaxes(A, 1, 2).astype(jnp.float32),
                   out_shardings=row_sharding(mesh))
    return lambda acc, A, y, W: step(acc, W, rows(A), y)


@functools.partial(jax.jit, static_argnames=("sweeps",))
def _w_update(W, Pm, T, e, *, sweeps):
    W = jax.vmap(lambda W, P, T: hals_sweeps(W, P, T, sweeps))(W, Pm, T)  # each class's HALS
    err = jnp.sum(e) - 2 * jnp.vdot(T, W) + jnp.vdot(Pm, jnp.einsum("ykc,ylc->ykl", W, W))
    # unit atoms: the next pass re-solves the codes from zero, so the scale is free; without it an
    # atom's norm drifts over passes (seen: 5 to 4e4 in one dictionary) and a later NNLS on W
    # (``Craft.transform``, whose tolerance is relative to max ‖W_j‖²) stops before converging
    n = jnp.linalg.norm(W, axis=2, keepdims=True)
    W = jnp.where(n > 0, W / jnp.where(n > 0, n, 1.0), W)
    return W, jnp.sqrt(jnp.maximum(err, 0.0) / jnp.maximum(jnp.sum(e), 1e-30))


def _init_nmf(rows, k, key, init_rows, fitted):
    """Start: the in-memory :func:`jaxconcepts.kernels.nmf` (accelerated HALS) on each class's rows
    of a key-chosen sample of whole shards (``init_rows`` rows), or on the whole sample for a
    class with fewer than ``4k`` sampled rows; atoms scaled to unit norm.

    (A start from ``k`` sampled rows refined by passes of the streamed program was tried: it
    compiles nothing extra, but plain one-step-per-pass HALS then needs hundreds of passes to
    reach what the accelerated in-memory solver reaches on the sample in a few dozen sweeps.)"""
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    sample, ys = rows.sample(int(init_rows), seed=seed)
    if sample.min() < 0:
        raise ValueError(f"NMF needs non-negative activations; the sampled rows have min "
                         f"{sample.min():.4g}")
    own = [y for y in np.flatnonzero(fitted) if np.count_nonzero(ys == y) >= 4 * k]
    W = np.zeros((rows.n_classes, k, sample.shape[1]), np.float32)
    if len(own) < rows.n_classes:  # a shared start for the classes with too few sampled rows
        W[:] = np.asarray(nmf(sample, k, key=key, max_iter=50).W)
    for y in own:
        W[y] = np.asarray(nmf(sample[ys == y], k, key=jax.random.fold_in(key, int(y)),
                              max_iter=50).W)
    n = np.linalg.norm(W, axis=2, keepdims=True)
    return np.where(n > 0, W / np.where(n > 0, n, 1.0), W)


def _online_update(W, Pm, T, Pc, Tc, ec, beta, sweeps):
    """One online step (Mairal et al. 2010, Alg. 2 with ``W ≥ 0``), on the host in float64 (it
    is ``O(sweeps·Y·k²·c)``, and a jitted version cost a second of compilation per fit): the
    group's error with the ``W`` its codes were solved against, the forgetting ``P ← βP + P_g``,
    ``T ← βT + T_g``, then ``sweeps`` exact row updates, each projected on
    ``{w ≥ 0, ‖w‖ ≤ 1}`` (keeps the scale fixed, so the older sums stay consistent; the
    objective's optimum is unchanged). Returns ``(W, P, T, err)``."""
    # hals_sweeps' update in NumPy float64 on the host, plus the norm projection: not the JAX one
    W, Pc, Tc = (np.asarray(a, np.float64) for a in (W, Pc, Tc))
    err = float(np.sum(ec, dtype=np.float64) - 2 * np.vdot(Tc, W)
                + np.vdot(Pc, np.matmul(W, W.transpose(0, 2, 1))))
    Pm, T = beta * Pm + Pc, beta * T + Tc
    dP = np.diagonal(Pm, axis1=1, axis2=2)
    for _ in range(sweeps):
        for j in range(W.shape[1]):
            num = T[:, j, :] - np.matmul(Pm[:, j:j + 1, :], W)[:, 0]
            d = dP[:, j][:, None]
            wj = np.maximum(W[:, j, :] + np.divide(num, d, out=np.zeros_like(num), where=d > 0),
                            0.0)
            W[:, j, :] = wj / np.maximum(np.linalg.norm(wj, axis=1, keepdims=True), 1.0)
    return W.astype(np.float32), Pm, T, max(err, 0.0)


def _online_start(rows, k, key, fitted):
    """``k`` rows per class, drawn by ``key`` (:meth:`RowsView.sample_rows`), plus 1e-3 of their
    mean (no zero atom), scaled to unit norm; zeros for a class without rows."""
    # the key's bits seed NumPy (no jax.random program to compile on the way to the first batch)
    W = rows.sample_rows(int(k), seed=[int(v) for v in np.asarray(jax.random.key_data(key))])
    if W.min() < 0:
        raise ValueError(f"NMF needs non-negative activations; the sampled rows have min "
                         f"{W.min():.4g}")
    W = W + 1e-3 * W.mean(axis=(1, 2), keepdims=True)
    W[~fitted] = 0
    n = np.linalg.norm(W, axis=2, keepdims=True)
    return np.where(n > 0, W / np.where(n > 0, n, 1.0), W)


def _check_group(rows, e, amin):
    if not np.all(np.isfinite(e)):
        for _ in rows:  # the checked reader names the shard and row
            pass
        raise ValueError("NaN/Inf activations in the shards of another process")
    if amin < 0:
        raise ValueError(f"NMF needs non-negative activations; the store has min {amin:.4g}")


def _zero_stats(mesh, Y, k, c):
    return zero_device_stats(mesh, np.zeros((Y, k, k)), np.zeros((Y, k, c)), np.zeros(Y), np.inf)


def _total(mesh, acc):
    """``(P, T, ‖A‖², min A)`` over every device and process."""
    return device_total(mesh, acc, ("sum", "sum", "sum", "min"))


def _pass_sums(rows, prog, mesh, W):
    """``(P, T, ‖A‖²)`` of one whole pass with every row coded against ``W``, checked."""
    acc, Wr = _zero_stats(mesh, *W.shape), replicate(mesh, W)
    for batch, _ in rows.groups(len(rows.files), raw=True):
        acc = prog(acc, *put_rows(mesh, batch.A, batch.y), Wr)
    Pm, T, e, amin = _total(mesh, acc)
    _check_group(rows, e, amin)
    return Pm, T, e


def fit_nmf_streamed(rows, k: int, *, key: jax.Array, max_steps: int, tol: float,
                     code_sweeps: int, dict_sweeps: int, init_rows: int,
                     update_shards: int | None, forget: float, mesh=None, callback=None,
                     on_update=None) -> StreamedNMF:
    """Per-class NMF of a store's rows, streamed (module docstring); deterministic in ``key``.

    ``update_shards``: None, one W update per pass (``init_rows``: the in-memory start);
    an int, online (W updated after every group of that many shards, forgetting ``forget``;
    ``init_rows`` unused). ``callback(step, error, seconds)`` after each pass;
    ``on_update(t, W, group_error)`` after each online update.

    Raises:
        ValueError: negative activations (NMF needs ``A ≥ 0``), bad settings.
    """
    warn_if_untuned("fit_nmf_streamed")
    if max_steps < 1 or code_sweeps < 1 or dict_sweeps < 1:
        raise ValueError(f"max_steps={max_steps}, code_sweeps={code_sweeps}, dict_sweeps="
                         f"{dict_sweeps} should all be >= 1")
    if update_shards is not None and update_shards < 1:
        raise ValueError(f"update_shards={update_shards} should be >= 1 or None (one update "
                         "per pass)")
    if forget < 0:
        raise ValueError(f"forget={forget} should be >= 0")
    mesh = data_mesh() if mesh is None else mesh
    fitted = np.asarray(rows.class_rows) > 0
    Y, k = rows.n_classes, int(k)
    prog = _nmf_program(mesh, Y, int(code_sweeps))
    if update_shards is None:
        W = _init_nmf(rows, k, key, init_rows, fitted)
    else:
        W = _online_start(rows, k, key, fitted)
    history = []
    for step in range(int(max_steps)):
        t0 = time.perf_counter()
        if step == 0 and update_shards is not None:
            W, err = _online_pass(rows, prog, W, mesh, int(update_shards), float(forget),
                                  int(dict_sweeps), on_update)
        else:
            Pm, T, e = _pass_sums(rows, prog, mesh, W)
            W, err = _w_update(jnp.asarray(W), jnp.asarray(Pm), jnp.asarray(T), jnp.asarray(e),
                               sweeps=int(dict_sweeps))
            W = np.asarray(W)
        history.append(float(err))
        if callback is not None:
            callback(step, float(err), time.perf_counter() - t0)
        if bool(converged_at(np.asarray(history), len(history), tol)):
            break
    return StreamedNMF(jnp.asarray(W), np.asarray(history, np.float32), jnp.asarray(fitted))


def _online_pass(rows, prog, W, mesh, update_shards, forget, sweeps, on_update):
    """The online first pass (module docstring): ``(W, error of the rows as they were coded)``."""
    Y, k, c = W.shape
    Pm, T = np.zeros((Y, k, k)), np.zeros((Y, k, c))
    num = den = 0.0
    acc, Wr, t = _zero_stats(mesh, Y, k, c), replicate(mesh, W), 0
    for batch, last in rows.groups(update_shards, raw=True):
        acc = prog(acc, *put_rows(mesh, batch.A, batch.y), Wr)
        if not last:
            continue
        Pc, Tc, ec, amin = _total(mesh, acc)
        _check_group(rows, ec, amin)
        t += 1
        W, Pm, T, err = _online_update(W, Pm, T, Pc, Tc, ec, (1 - 1 / t) ** forget, sweeps)
        num, den = num + err, den + float(ec.sum())
        if on_update is not None:
            on_update(t, W, float(np.sqrt(float(err) / max(float(ec.sum()), 1e-30))))
        acc, Wr = _zero_stats(mesh, Y, k, c), replicate(mesh, W)
    return W, np.sqrt(num / max(den, 1e-30))


def nmf_error(W, rows, *, code_sweeps: int, mesh=None) -> float:
    """``‖A − U W‖_F / ‖A‖_F`` over all of a store's rows, each row's codes solved against its
    class's ``W (Y, k, c)`` (at most ``code_sweeps`` sweeps), streamed; nothing is updated."""
    mesh = data_mesh() if mesh is None else mesh
    W = np.asarray(W, np.float32)
    prog = _nmf_program(mesh, rows.n_classes, int(code_sweeps))
    Pm, T, e = (a.astype(np.float64) for a in _pass_sums(rows, prog, mesh, W))
    err = e.sum() - 2 * np.vdot(T, W) + np.vdot(Pm, np.einsum("ykc,ylc->ykl", W, W))
    return float(np.sqrt(max(err, 0.0) / max(e.sum(), 1e-30)))


def stream_codes(model: StreamedNMF, rows, *, code_sweeps: int, mesh=None):
    """NMF codes of new rows, streamed: yields ``(U (n_img, ch, k), batch)`` (this process's)."""
    from jaxconcepts.streaming._c2mf import local_rows
    from jaxconcepts.mesh import row_sharding

    mesh = data_mesh() if mesh is None else mesh
    prog = jax.jit(lambda A, y, W: jnp.transpose(nmf_codes(A, y, W, int(code_sweeps)), (1, 2, 0)),
                   out_shardings=row_sharding(mesh))
    Wr = replicate(mesh, np.asarray(model.W))
    for batch in rows:
        A, y = put_rows(mesh, batch.A, batch.y)
        yield local_rows(prog(A, y, Wr)), batch


@functools.lru_cache(maxsize=None)
def _pca_program(mesh, n_classes):
    def fold(acc, A, y, valid):
        def one(i, a):
            n, s, M = a
            Ai = A[i]
            w = valid[i].astype(A.dtype)
            return (n.at[y[i]].add(w * Ai.shape[0]), s.at[y[i]].add(jnp.sum(Ai, 0)),
                    M.at[y[i]].add(Ai.T @ Ai))

        return lax.fori_loop(0, A.shape[0], one, acc)

    return device_stats_program(mesh, fold, n_replicated=0)


def fit_pca_streamed(rows, k: int, *, mesh=None) -> PCABaseline:
    """Per-class PCA of a store's rows, streamed (module docstring); a
    :class:`~jaxconcepts.concepts.PCABaseline`."""
    mesh = data_mesh() if mesh is None else mesh
    Y, c = rows.n_classes, rows.channels
    prog = _pca_program(mesh, Y)
    acc = zero_device_stats(mesh, np.zeros(Y), np.zeros((Y, c)), np.zeros((Y, c, c)))
    for batch in rows:
        acc = prog(acc, *put_rows(mesh, batch.A, batch.y, batch.valid))
    n, s, M = (a.astype(np.float64) for a in device_total(mesh, acc))
    W = np.zeros((Y, k, c), np.float32)
    ev = np.zeros((Y, k), np.float32)
    mean = np.zeros((Y, c), np.float32)
    for y in np.flatnonzero(n > 1):
        mu = s[y] / n[y]
        cov = (M[y] - n[y] * np.outer(mu, mu)) / (n[y] - 1)
        vals, vecs = np.linalg.eigh(cov)  # host float64, outside any sharded program
        top = np.argsort(vals)[::-1][:k]
        W[y], ev[y], mean[y] = vecs[:, top].T, vals[top], mu
    return PCABaseline(jnp.asarray(W), jnp.asarray(mean), jnp.asarray(ev), n > 1)
