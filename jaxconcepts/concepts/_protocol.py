"""The one interface every concept method shares: fit on train activations, transform new ones.

C2MF (shared dictionary + per-class gates), CRAFT (per-class NMF) and the PCA baseline all return
an object satisfying :class:`ConceptDecomposition`, so every metric in ``jaxconcepts.evaluation``
runs on every method without special cases:

- ``concepts``: ``(Y, k, c)`` the concept vectors each class uses (C2MF: the shared ``W`` for every
  class; the class's gate only rescales rows, which changes no cosine/correlation);
- ``transform(A, y)``: ``(n, k)`` codes of rows ``A`` (``(n, c)``) of classes ``y`` (``(n,)``);
- ``reconstruct(U, y)``: ``(n, c)`` the activations the codes stand for (``U_test W`` of §3.3).

Fitted models are equinox Modules (pytrees whose leaves are their arrays), so ``reconstruct`` can
be traced with the model as an argument: one compiled evaluation serves every model of one shape.

Notation as in the paper: A = activations (rows = spatial positions or crops), U = codes,
W = dictionary, ``A ≈ U W``.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ConceptDecomposition", "check_rows_and_labels", "per_class_apply"]


@runtime_checkable
class ConceptDecomposition(Protocol):
    """A fitted concept decomposition (see module docstring)."""

    @property
    def concepts(self) -> jax.Array:  # (Y, k, c)
        ...

    def transform(self, A: Any, y: Any) -> jax.Array:  # (n, c), (n,) -> (n, k)
        ...

    def reconstruct(self, U: Any, y: Any) -> jax.Array:  # (n, k), (n,) -> (n, c)
        ...


def check_rows_and_labels(A, y, *, n_classes=None, name="A"):
    """Validate ``A`` ``(n, c)`` and integer labels ``y`` ``(n,)``; return ``(A, y_np, n_classes)``.

    ``A`` is returned untouched (it may be a NumPy memmap); ``y`` as an int32 NumPy array.

    Raises:
        ValueError: wrong shapes, labels out of ``[0, n_classes)``, empty input.
        TypeError: non-integer labels.
    """
    if getattr(A, "ndim", None) != 2:
        raise ValueError(
            f"{name} should be a 2-D (n, c) array, got shape {getattr(A, 'shape', None)}")
    y_np = np.asarray(y)
    if y_np.ndim != 1 or y_np.shape[0] != A.shape[0]:
        raise ValueError(f"y should have shape ({A.shape[0]},) to match {name}, got {y_np.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if not np.issubdtype(y_np.dtype, np.integer):
        raise TypeError(f"y should hold integer class indices, got dtype {y_np.dtype}")
    if n_classes is None:
        n_classes = int(y_np.max()) + 1
    if y_np.min() < 0 or y_np.max() >= n_classes:
        raise ValueError(
            f"y should lie in [0, n_classes={n_classes}), got range [{y_np.min()}, {y_np.max()}]"
        )
    return A, y_np.astype(np.int32), int(n_classes)


def _bucket(n: int) -> int:
    """Next power of two ≥ n (≥ 8), so per-class padded shapes reuse few compiled programs."""
    return max(8, 1 << (int(n) - 1).bit_length())


def per_class_apply(
    A, y, fn: Callable[[jax.Array, int], jax.Array], out_dim: int, *, dtype=jnp.float32
) -> jax.Array:
    """Apply ``fn(rows_of_class, cls) -> (m, out_dim)`` class by class; reassemble in row order.

    Rows of each class are zero-padded to a power-of-two bucket so that a jitted ``fn`` compiles a
    handful of shapes, not one per class; padded outputs are dropped.
    """
    # gather and pad on the host: eager JAX indexing compiles a gather per class size
    A = np.asarray(A)
    y_np = np.asarray(y)
    out = np.zeros((A.shape[0], out_dim), dtype=np.dtype(dtype))
    for cls in np.unique(y_np):
        idx = np.flatnonzero(y_np == cls)
        rows = np.zeros((_bucket(idx.size), A.shape[1]), A.dtype)
        rows[: idx.size] = A[idx]
        out[idx] = np.asarray(fn(rows, int(cls)))[: idx.size]
    return jnp.asarray(out)
