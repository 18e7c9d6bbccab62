"""CRAFT baseline (Fel et al. 2023) as used in the C2MF paper: per-class NMF on random crops.

Per class y: random crops of the class's images are resized back to the input size, passed through
the encoder ``g`` and spatially averaged (``jaxconcepts.features``, the ``crops`` stage), giving
non-negative rows ``A_crops(y)`` ``(m_y, c)``; NMF (HALS, :mod:`jaxconcepts.kernels._nmf`)
factorises them into k concepts ``W_y`` ``(k, c)``. Test codes: NNLS of new activations on ``W_y``.
CRAFT's own importance (Sobol total indices) is in :mod:`jaxconcepts.importance._sobol`.

The fitted model is an equinox Module (a pytree: arrays are leaves), so one compiled evaluation
serves every model of the same shape.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.concepts._protocol import check_rows_and_labels, per_class_apply
from jaxconcepts.kernels._nmf import _nmf
from jaxconcepts.kernels._nnls import nnls

__all__ = ["Craft", "fit_craft"]


class Craft(eqx.Module):
    """Per-class NMF concepts (satisfies ``ConceptDecomposition``).

    Attributes:
        W: ``(Y, k, c)`` non-negative concepts per class.
        rel_error: ``(Y,)`` NMF relative error on the class's crops (NaN for classes without crops).
        fitted: ``(Y,)`` bool.
    """

    W: jax.Array
    rel_error: np.ndarray
    fitted: np.ndarray

    @property
    def concepts(self) -> jax.Array:
        return self.W

    def transform(self, A, y, *, max_iter: int = 200, tol: float = 1e-5) -> jax.Array:
        """``(n, k)`` NNLS codes of rows ``A`` on ``W_y`` (the paper's test-set projection)."""
        A, y_np, _ = check_rows_and_labels(A, y, n_classes=self.W.shape[0])
        k = self.W.shape[1]
        return per_class_apply(
            jnp.asarray(A, jnp.float32), y_np,
            lambda rows, cls: nnls(rows, self.W[cls], max_iter=max_iter, tol=tol).codes, k)

    def reconstruct(self, U, y) -> jax.Array:
        return jnp.einsum("nk,nkc->nc", jnp.asarray(U), self.W[jnp.asarray(y)])


# --------------------------------------------------------------------------------------------
# fit


def fit_craft(A_crops, y_crops, k: int, *, key, max_iter: int, n_classes: int | None = None,
              tol: float = 1e-4) -> Craft:
    """NMF of each class's crop activations into k concepts (all classes in one vmapped solve).

    Classes are zero-padded to the same row count: zero rows get zero codes and change neither W nor
    the relative error, so the padded problems are the per-class problems.

    Args:
        A_crops: ``(m, c)`` non-negative crop activations (``features``' crops).
        y_crops: ``(m,)`` class of each crop.
        k: concepts per class.
        key: PRNG key (one NMF start per class, folded from it).
        max_iter: HALS iterations (params ``c2mf.nmf_max_iter``); tol: HALS relative tolerance.

    Raises:
        ValueError: negative activations, or a class with rows but fewer than k of them (or
            ``k > c``): the data do not support k concepts.
    """
    A_crops, y_np, n_classes = check_rows_and_labels(A_crops, y_crops, n_classes=n_classes,
                                                     name="A_crops")
    A_np = np.asarray(A_crops, np.float32)
    if not np.all(np.isfinite(A_np)):
        raise ValueError("A_crops contains NaN or inf")
    if A_np.min() < 0:
        raise ValueError(f"A_crops should be non-negative for NMF, min={A_np.min():.4g}")
    c = A_np.shape[1]
    counts = np.bincount(y_np, minlength=n_classes)
    fitted = counts > 0
    too_few = [int(cl) for cl in np.flatnonzero(fitted & (counts < k))]
    if k < 1 or k > c or too_few:
        raise ValueError(
            f"k={k} should be in [1, min(rows of each class, n_channels={c})]; classes with fewer "
            f"than k crops: {too_few}")
    m = int(counts.max())
    padded = np.zeros((n_classes, m, c), np.float32)
    for cl in np.flatnonzero(fitted):
        rows = A_np[y_np == cl]
        padded[cl, : rows.shape[0]] = rows
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_classes))
    solve = functools.partial(_nmf, k=int(k))
    res = jax.vmap(lambda a, kk: solve(a, kk, jnp.float32(tol), jnp.int32(max_iter)))(
        jnp.asarray(padded), keys)
    rel = np.where(fitted, np.asarray(res.rel_error), np.nan)
    W = jnp.where(jnp.asarray(fitted)[:, None, None], res.W, 0.0)
    return Craft(W, rel, fitted)
