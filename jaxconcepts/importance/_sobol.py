"""CRAFT's own concept importance: Sobol total indices over concept masks (Fel et al. 2023, §3.2).

For one row with codes ``u`` (``(k,)``) of a class with concepts ``W`` (``(k, c)``), the
concept-masked score is ``f(m) = h((u ⊙ m) W)`` with ``m ∈ [0, 1]^k``. With quasi-Monte-Carlo
matrices ``M_A, M_B`` (``(N, k)``, the two halves of a scrambled Sobol sequence in ``[0, 1)^{2k}``,
:func:`qmc_masks`) and ``M_C^i`` = ``M_A`` with column i taken from ``M_B``, Jansen's estimator is

    S_T,i = mean((f(M_A) − f(M_C^i))²) / (2 Var f(M_A)).

Rows whose score does not vary (``Var = 0``) contribute 0.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.concepts._protocol import check_rows_and_labels

__all__ = ["qmc_masks", "sobol_total_indices", "craft_importance", "class_logit_importance"]


def qmc_masks(key, n: int, d: int) -> jax.Array:
    """``(n, d)`` points of a scrambled Sobol sequence in [0, 1)^d (``scipy.stats.qmc.Sobol``).

    The scrambling seed is drawn from ``key``. ``n`` must be a power of two: Sobol points keep their
    balance properties only in blocks of 2^m.

    Raises:
        ValueError: ``n`` not a power of two, or ``d < 1``.
    """
    from scipy.stats import qmc

    n, d = int(n), int(d)
    if n < 1 or n & (n - 1):
        raise ValueError(f"n_designs={n} should be a power of two (Sobol balance), e.g. 32")
    if d < 1:
        raise ValueError(f"d={d} should be >= 1")
    seed = int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))
    pts = qmc.Sobol(d, scramble=True, seed=seed).random_base2(n.bit_length() - 1)
    return jnp.asarray(pts, jnp.float32)


def sobol_total_indices(codes, W, h: Callable, *, key, n_designs: int) -> jax.Array:
    """Sobol total indices of k concepts for a score ``h`` (Jansen estimator), mean over rows.

    Args:
        codes: ``(m, k)`` codes of the rows (crops or images) of one class.
        W: ``(k, c)`` that class's concepts.
        h: maps ``(p, c)`` activations to ``(p,)`` scores (e.g. the class logit); pure JAX.
        key: PRNG key for the Sobol scrambling.
        n_designs: N, a power of two.

    Returns:
        ``(k,)`` total indices, mean over rows.
    """
    codes = jnp.asarray(codes)
    m, k = codes.shape
    P = qmc_masks(key, n_designs, 2 * k)
    Ma, Mb = P[:, :k], P[:, k:]
    eye = jnp.eye(k, dtype=bool)
    Mc = jnp.where(eye[:, None, :], Mb[None], Ma[None])  # (k, N, k): column i from M_B
    masks = jnp.concatenate([Ma[None], Mc], 0).reshape(-1, k)  # ((k+1) N, k)

    def one(u):
        f = h((masks * u) @ W).reshape(k + 1, n_designs)
        fa, fc = f[0], f[1:]
        var = jnp.var(fa)
        st = jnp.mean((fa[None] - fc) ** 2, axis=1) / (2.0 * var)
        return jnp.where(var > 0, st, 0.0)

    return jnp.mean(jax.vmap(one)(codes), axis=0)


def craft_importance(model, A_crops, y_crops, h: Callable, *, key, n_designs: int):
    """``(Y, k)`` Sobol total indices per class: codes of the class's crops, ``h(x, cls)`` scores.

    Args:
        model: a fitted :class:`~jaxconcepts.concepts.Craft` (per-class ``W`` ``(Y, k, c)``,
            ``fitted`` ``(Y,)``).
        A_crops: ``(m, c)`` rows (crops) and y_crops ``(m,)`` their classes.
        h: ``h(acts (p, c), cls) -> (p,)`` score of class ``cls`` (e.g. ``acts @ head_w[cls] + b``).
    """
    A_crops, y_np, n_classes = check_rows_and_labels(A_crops, y_crops, n_classes=model.W.shape[0],
                                                     name="A_crops")
    U = model.transform(A_crops, y_np)
    out = np.zeros((n_classes, model.W.shape[1]), np.float32)
    for cl in np.flatnonzero(model.fitted):
        rows = np.flatnonzero(y_np == cl)
        if rows.size == 0:
            continue
        out[cl] = np.asarray(sobol_total_indices(
            U[rows], model.W[cl], lambda x, cl=int(cl): h(x, cl),
            key=jax.random.fold_in(key, int(cl)), n_designs=n_designs))
    return jnp.asarray(out)


def class_logit_importance(model, A, y, head, classes, *, key, n_designs: int) -> np.ndarray:
    """``(Y, k)`` CRAFT's importance for the class logit: fitted class ``j`` scores with the head's
    row ``classes[j]`` (``logit = x @ weight[classes[j]] + bias[classes[j]]``).

    Args:
        A: ``(m, c)`` the rows CRAFT was fitted on (its crops, or train rows clipped at 0);
            y: ``(m,)`` fitted class ids ``0..Y-1``.
        head: GAP + linear head record (``weight`` ``(K, c)``, ``bias`` ``(K,)``).
        classes: ``(Y,)`` store class of each fitted class.
    """
    sel = np.asarray(classes)
    Wh = jnp.asarray(np.asarray(head.weight)[sel])
    bh = jnp.asarray(np.asarray(head.bias)[sel])
    return np.asarray(craft_importance(model, A, y, lambda x, cl: x @ Wh[cl] + bh[cl], key=key,
                                       n_designs=n_designs))
