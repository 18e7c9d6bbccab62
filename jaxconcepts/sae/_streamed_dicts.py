"""SemiNMF and the k-means dictionary streamed from the activation store, over a device mesh and
processes: the algorithms of :mod:`jaxconcepts.sae._dictionaries`, one dictionary update per pass.

Each pass streams the :class:`~jaxconcepts.store.RowsView`'s batches (this process's shards,
padding images masked out), sharded over the mesh's ``data`` axis
(:func:`~jaxconcepts.mesh.put_rows`). Every device folds its rows into per-pass
sufficient statistics of its own, in a program with no collective
(:func:`~jaxconcepts.mesh.device_stats_program`); once per pass they are summed over
the devices of every process (:func:`~jaxconcepts.mesh.device_total`) and the
dictionary is updated exactly from the sums, on the host in float64, identically on every
process. Memory: a few batches and ``O(k·c)`` sums, whatever the store's size.

**k-means** (:func:`fit_kmeans_dictionary_streamed`): Lloyd's algorithm by passes. A pass
assigns every row to its nearest centroid and sums, per centroid, its rows ``S (k, c)`` and
their count ``n (k,)``, and the inertia; then ``C_j ← S_j / n_j``, an empty cluster keeping its
centroid (as the in-memory one). A pass's sums do not depend on how the rows are split into
batches, devices or processes, so neither do the centroids, up to the order of float sums.

**SemiNMF** (:func:`fit_seminmf_streamed`, Ding, Li & Jordan 2010: ``A ≈ U W``, ``U ≥ 0``,
``W`` signed). A pass codes every row against the current ``W``: the in-memory start
``U₀ = max(A W⁺, 0) + δ`` then ``code_iters`` multiplicative updates (their Eq. 12); it sums
``P = UᵀU`` ``(k, k)``, ``T = UᵀA`` ``(k, c)``, ``‖A − U W‖²`` and ``‖A‖²``; then
``W ← (P + ρI)⁻¹ T`` with the in-memory ridge ``ρ = 1e-6 · tr(P)/k``, rows scaled to unit norm.
The first pass sums the start codes themselves, as the in-memory first step does (with a start
row of zeros, its atom is revived by the δ floor; sweeping first would zero its codes for good).

**How it differs from** :func:`fit_seminmf`: the in-memory fit keeps ``U`` between steps (each
step's ``code_iters`` updates continue from the previous codes). A streamed fit cannot hold the
codes of every row, so each pass re-solves them from the start against the current ``W``. Since
codes are re-solved, the atoms' scale is free; unit atoms keep the shared floor δ the same fraction
of every atom's codes. Measured on a 6-atom ground (1 024 rows, 16 dims, 1.5 active, noise 0.01),
key 0: a first version without unit atoms, 30 updates per pass, fell to 0.026 and then rose, pass
after pass, to 0.033; with unit atoms, 5, 10, 30 and 100 updates per pass all decrease, to 0.0253,
0.0251, 0.0250 and 0.0249 after 100 passes (the in-memory fit, 100 steps of 5 updates: 0.026, 0.028
and 0.041 for keys 0-2). δ is the in-memory ``0.01 · mean(U₀)``, the mean over the initialisation
sample (not the batch: a row's codes then depend on the row and ``W`` only, so the fit depends
neither on the batches nor on the process count). ``error_history[t]`` is ``‖A − U W‖/‖A‖`` of pass
t's codes against the ``W`` they were solved for (computed row by row: from the sums it cancels to
float32 noise); the returned ``W`` is the update after the last pass.

**Start** (both): ``rows.sample(init_rows, seed)`` (whole shards, the same on every process),
``seed`` drawn from ``key`` (:func:`sample_seed`), then ``k`` of the sample's rows chosen by
``key`` as the in-memory fits choose them from their rows: on a store of at most ``init_rows``
rows, ``fit_kmeans_dictionary(sample, k, key=key)`` starts from the same centroids (and ends at
the same ones within float noise).

**Errors**: settings are checked before the first pass (ValueError naming the valid range); a
non-finite inertia or error raises FloatingPointError naming the method and the pass.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.sae._dictionaries import KMeansDictionary, SemiNMF, _mu_codes, _unit
from jaxconcepts.mesh import (data_mesh, device_stats_program, device_total,
                                         put_rows, replicate, zero_device_stats)

__all__ = ["fit_kmeans_dictionary_streamed", "fit_seminmf_streamed", "sample_seed"]


def sample_seed(key) -> int:
    """The NumPy seed of the initialisation sample, ``rows.sample(init_rows, seed=…)``, drawn
    from ``key`` (a stream of its own: ``key`` itself then chooses the ``k`` start rows)."""
    return int(jax.random.randint(jax.random.fold_in(key, 0x5A3D), (), 0, 2**31 - 1))


def _start(rows, k, key, init_rows, name):
    """Checked settings, then ``(sample (m, c) float32, start (k, c))`` of the module docstring."""
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= rows.n_rows:
        raise ValueError(f"{name}: k={k!r} should be an int in [1, n_rows={rows.n_rows}]")
    if init_rows < k:
        raise ValueError(f"{name}: init_rows={init_rows} should be >= k={k} (the start is k of "
                         "the sample's rows)")
    sample, _ = rows.sample(int(init_rows), seed=sample_seed(key))
    sample = np.asarray(sample, np.float32)  # min(init_rows, n_rows) >= k rows
    idx = np.asarray(jax.random.choice(key, sample.shape[0], (int(k),), replace=False))
    return sample, sample[idx]


def _rows_of(A, valid):
    """A batch's ``(n_img, ch, c)`` images as ``(rows, c)`` and its ``(rows,)`` 0/1 mask."""
    n, ch, c = A.shape
    return A.reshape(n * ch, c), jnp.repeat(valid.astype(A.dtype), ch)


@functools.lru_cache(maxsize=None)
def _kmeans_program(mesh):
    def fold(acc, C, A, valid):
        A, m = _rows_of(A, valid)
        d = jnp.sum(C * C, 1)[None, :] - 2 * A @ C.T
        oh = jax.nn.one_hot(jnp.argmin(d, axis=1), C.shape[0], dtype=A.dtype) * m[:, None]
        inertia = jnp.sum(m * (jnp.min(d, axis=1) + jnp.sum(A * A, 1)))
        return acc[0] + oh.T @ A, acc[1] + oh.sum(0), acc[2] + inertia

    return device_stats_program(mesh, fold, n_replicated=1)


def _pass_sums(rows, mesh, prog, zeros, replicated):
    """One pass: every batch folded by ``prog`` into per-device sums (from ``zeros``), with the
    ``replicated`` host arrays on every device; the sums over devices and processes (NumPy)."""
    acc = zero_device_stats(mesh, *zeros)
    rep = [replicate(mesh, np.asarray(x, np.float32)) for x in replicated]
    for batch in rows:
        acc = prog(acc, *rep, *put_rows(mesh, batch.A, batch.valid))
    return [np.asarray(a, np.float64) for a in device_total(mesh, acc)]


def _check_finite(value, name, k, step):
    if not np.isfinite(value):
        raise FloatingPointError(f"{name} (k={k}) diverged: non-finite {value} at pass {step}; "
                                 "check the activations' scale")


def fit_kmeans_dictionary_streamed(rows, k: int, *, key, n_iter: int = 50,
                                   init_rows: int = 65536, mesh=None) -> KMeansDictionary:
    """Lloyd's k-means with ``k`` centroids on a store's rows, one update per pass over
    ``rows`` (a :class:`~jaxconcepts.store.RowsView`), data-parallel over ``mesh`` (default:
    every device of every process); module docstring.

    Args:
        rows: the rows view (``images_per_batch`` a multiple of this process's devices).
        k: centroids, in ``[1, n_rows]`` and at most the sample's rows.
        key: PRNG key: the initialisation sample's seed and the ``k`` start rows.
        n_iter: passes (one centroid update each), >= 1.
        init_rows: rows of the initialisation sample, >= k.

    Returns:
        A :class:`KMeansDictionary` (``inertia_history``: each pass's inertia, before its
        update; ``n_classes`` the view's).

    Raises:
        ValueError: bad settings. FloatingPointError: a non-finite inertia.
    """
    name = "k-means dictionary (streamed)"
    if n_iter < 1:
        raise ValueError(f"{name}: n_iter={n_iter} should be >= 1")
    mesh = data_mesh() if mesh is None else mesh
    _, C = _start(rows, k, key, init_rows, name)
    C = C.astype(np.float64)
    c = rows.channels
    prog = _kmeans_program(mesh)
    history = []
    for step in range(int(n_iter)):
        S, n, inertia = _pass_sums(rows, mesh, prog, (np.zeros((k, c)), np.zeros(k), 0.0), [C])
        _check_finite(float(inertia), name, k, step)
        history.append(float(inertia))
        C = np.where(n[:, None] > 0, S / np.maximum(n, 1)[:, None], C)
    return KMeansDictionary(centroids=jnp.asarray(C, jnp.float32),
                            inertia_history=np.asarray(history, np.float64),
                            n_classes=int(rows.n_classes))


@functools.lru_cache(maxsize=None)
def _seminmf_program(mesh, code_iters):
    def fold(acc, W, W_pinv, delta, A, valid):
        A, m = _rows_of(A, valid)
        U0 = (jnp.maximum(A @ W_pinv, 0.0) + delta) * m[:, None]  # padding rows: codes 0
        U = _mu_codes(A, W, U0, code_iters)
        R = A - U @ W  # the error directly: from the sums it cancels to float32 noise
        return (acc[0] + U.T @ U, acc[1] + U.T @ A, acc[2] + jnp.sum(R * R),
                acc[3] + jnp.sum(A * A))

    return device_stats_program(mesh, fold, n_replicated=3)


DELTA_ROWS = 4096  # rows of the sample, evenly strided, that estimate δ's mean code


def _start_delta(sample, W_pinv):
    """The in-memory start's floor ``0.01 · max(mean(max(A W⁺, 0)), 1e-6)``, the mean over at
    most about :data:`DELTA_ROWS` rows of the sample (a floor needs no more; the whole sample
    would cost ``O(init_rows·c·k)`` host work per pass)."""
    sub = sample[::max(1, sample.shape[0] // DELTA_ROWS)]
    return 0.01 * max(float(np.mean(np.maximum(sub @ W_pinv, 0.0))), 1e-6)


def _least_squares(P, T):
    """``W = (P + ρI)⁻¹ T`` with the in-memory ridge ``ρ = 1e-6 tr(P)/k + 1e-12`` (float64)."""
    ridge = 1e-6 * np.trace(P) / P.shape[0] + 1e-12
    return np.linalg.solve(P + ridge * np.eye(P.shape[0]), T)


def fit_seminmf_streamed(rows, k: int, *, key, max_iter: int = 50, code_iters: int = 30,
                         init_rows: int = 65536, mesh=None) -> SemiNMF:
    """SemiNMF (signed atoms ``W (k, c)``, codes ``U ≥ 0``) of a store's rows, one exact
    dictionary update per pass over ``rows`` (a :class:`~jaxconcepts.store.RowsView`),
    data-parallel over ``mesh`` (default: every device of every process); module docstring,
    which says how it differs from the in-memory :func:`fit_seminmf`.

    Args:
        rows: the rows view (``images_per_batch`` a multiple of this process's devices).
        k: atoms, in ``[1, n_rows]`` and at most the sample's rows.
        key: PRNG key: the initialisation sample's seed and the ``k`` start rows.
        max_iter: passes (one dictionary update each), >= 1.
        code_iters: multiplicative code updates per row and pass, from the start, >= 1.
        init_rows: rows of the initialisation sample (start rows and δ), >= k.

    Returns:
        A :class:`SemiNMF` (unit atoms; ``error_history``: each pass's ``‖A − U W‖/‖A‖``,
        before its update; ``n_classes`` the view's; its ``transform`` codes new rows as the
        in-memory model's does).

    Raises:
        ValueError: bad settings. FloatingPointError: a non-finite error.
    """
    name = "SemiNMF (streamed)"
    if max_iter < 1 or code_iters < 1:
        raise ValueError(f"{name}: max_iter={max_iter} and code_iters={code_iters} should be "
                         ">= 1")
    mesh = data_mesh() if mesh is None else mesh
    sample, W = _start(rows, k, key, init_rows, name)
    W = W.astype(np.float64)
    sample = sample.astype(np.float64)
    c = rows.channels
    history = []
    for step in range(int(max_iter)):
        # the first update from the start codes themselves, as the in-memory first step's
        prog = _seminmf_program(mesh, int(code_iters) if step else 0)
        W_pinv = np.linalg.pinv(W)  # on the host: no SVD inside a sharded program
        P, T, r, e = _pass_sums(rows, mesh, prog,
                             (np.zeros((k, k)), np.zeros((k, c)), 0.0, 0.0),
                             [W, W_pinv, _start_delta(sample, W_pinv)])
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite: raised just below
            err = float(np.sqrt(r / max(float(e), 1e-30)))
        _check_finite(err, name, k, step)
        history.append(err)
        W = _least_squares(P, T)
        n = np.linalg.norm(W, axis=1, keepdims=True)
        W = W / np.where(n > 0, n, 1.0)
    W_unit, _ = _unit(jnp.asarray(W, jnp.float32))
    return SemiNMF(W=W_unit, error_history=np.asarray(history, np.float64),
                   n_classes=int(rows.n_classes))
