"""PCA baseline of the C2MF paper (§3.2): per class, k principal components; codes by projection.

For class y with rows ``A(y)`` (``(n_y, c)``): mean ``μ_y``, components ``W_y`` = the top-k right
singular vectors of ``A(y) − μ_y`` (orthonormal rows), codes ``U = (A − μ_y) W_yᵀ`` and
reconstruction ``U W_y + μ_y``. The components come from the package's one PCA module,
:func:`jaxconcepts.kernels._pca.top_components` (exact). The fitted model is an equinox Module
(arrays are pytree leaves), so one compiled evaluation serves every model of the same shape.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.concepts._protocol import _bucket, check_rows_and_labels
from jaxconcepts.kernels._pca import top_components

__all__ = ["PCABaseline", "fit_pca_baseline"]


class PCABaseline(eqx.Module):
    """Per-class PCA (satisfies ``ConceptDecomposition``).

    Attributes:
        W: ``(Y, k, c)`` orthonormal components per class (rows sorted by explained variance).
        mean: ``(Y, c)`` class means.
        explained_variance: ``(Y, k)``.
        fitted: ``(Y,)`` bool, classes that had rows (others have zero W).
    """

    W: jax.Array
    mean: jax.Array
    explained_variance: jax.Array
    fitted: np.ndarray

    @property
    def concepts(self) -> jax.Array:
        return self.W

    def transform(self, A, y) -> jax.Array:
        """``(n, k)`` codes ``(a − μ_y) W_yᵀ``."""
        A, y_np, _ = check_rows_and_labels(A, y, n_classes=self.W.shape[0])
        y_j = jnp.asarray(y_np)
        A = jnp.asarray(A, self.W.dtype)
        return jnp.einsum("nc,nkc->nk", A - self.mean[y_j], self.W[y_j])

    def reconstruct(self, U, y) -> jax.Array:
        """``(n, c)`` ``U W_y + μ_y``."""
        y_j = jnp.asarray(y)
        return jnp.einsum("nk,nkc->nc", jnp.asarray(U), self.W[y_j]) + self.mean[y_j]


def fit_pca_baseline(A, y, k: int, *, key: jax.Array | None = None, n_classes: int | None = None):
    """Fit k principal components per class.

    Args:
        A: ``(n, c)`` activations; y: ``(n,)`` int classes; k: components per class.
        key: unused (PCA is deterministic); accepted so every method fits with the same call.
        n_classes: Y (default ``max(y) + 1``); classes without rows are marked in ``fitted``.

    Returns:
        :class:`PCABaseline`.

    Raises:
        ValueError: if some class with rows has ``k > min(n_y − 1, c)`` (the data do not support
            k components), or bad shapes.
    """
    del key
    A, y_np, n_classes = check_rows_and_labels(A, y, n_classes=n_classes)
    A = np.asarray(A, np.float32)
    c = A.shape[1]
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k={k} should be a positive int")
    W = np.zeros((n_classes, k, c), np.float32)
    mean = np.zeros((n_classes, c), np.float32)
    var = np.zeros((n_classes, k), np.float32)
    fitted = np.zeros(n_classes, bool)
    for cls in range(n_classes):
        rows = A[y_np == cls]
        if rows.shape[0] == 0:
            continue
        if k > min(rows.shape[0] - 1, c):
            raise ValueError(
                f"k={k} should be <= min(n_rows - 1, n_channels) = {min(rows.shape[0] - 1, c)} "
                f"for class {cls} ({rows.shape[0]} rows): the data do not support k components")
        mu = rows.mean(0)
        # zero rows appended to the centred rows change neither the right singular vectors nor
        # the singular values; padding to a power-of-two bucket lets classes of different sizes
        # share a few compiled solves instead of compiling one per class size
        centred = np.zeros((_bucket(rows.shape[0]), c), np.float32)
        centred[: rows.shape[0]] = rows - mu
        vt, s = top_components(jnp.asarray(centred), k=int(k))
        W[cls] = np.asarray(vt[:k])
        var[cls] = np.asarray(s[:k]) ** 2 / max(rows.shape[0] - 1, 1)
        mean[cls] = mu
        fitted[cls] = True
    return PCABaseline(jnp.asarray(W), jnp.asarray(mean), jnp.asarray(var), fitted)
