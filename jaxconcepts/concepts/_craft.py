"""CRAFT baseline (Fel et al. 2023) as used in the C2MF paper: per-class NMF on random crops.

Per class y: random crops of the class's images are resized back to the input size, passed through
the user's encoder ``g`` and spatially averaged, giving non-negative rows ``A_crops(y)``
``(m_y, c)``; NMF (HALS, :mod:`jaxconcepts.kernels._nmf`) factorises them into k concepts
``W_y`` ``(k, c)``. Importance: Sobol total indices of the concepts for the class score, with
quasi-Monte-Carlo masks over concepts and the Jansen estimator (:func:`sobol_total_indices`, pure
JAX of ``(codes, W, h)``). Test codes: NNLS of new activations on ``W_y``.

Only :func:`craft_activations` calls ``g`` (it may wrap a torch model); everything else is JAX.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.concepts._protocol import check_rows_and_labels, per_class_apply
from jaxconcepts.kernels._nmf import _nmf
from jaxconcepts.kernels._nnls import nnls

__all__ = [
    "Craft",
    "fit_craft",
    "random_crops",
    "craft_activations",
    "qmc_masks",
    "sobol_total_indices",
    "craft_importance",
]


class Craft(NamedTuple):
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
# crops → activations


def random_crops(images, *, key, n_crops: int, crop_fraction: float = 0.5):
    """Random square crops of side ``crop_fraction · min(H, W)``, resized back to ``(H, W)``.

    Args:
        images: ``(n, ch, H, W)`` float images.
        key: PRNG key (positions).
        n_crops: crops per image.
        crop_fraction: crop side relative to the shorter image side, in (0, 1].

    Returns:
        ``(n · n_crops, ch, H, W)`` crops, image-major.
    """
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images should be (n, ch, H, W), got shape {images.shape}")
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction={crop_fraction} should be in (0, 1]")
    n, ch, H, Wd = images.shape
    s = max(1, int(round(crop_fraction * min(H, Wd))))
    ky, kx = jax.random.split(key)
    oy = jax.random.randint(ky, (n, n_crops), 0, H - s + 1)
    ox = jax.random.randint(kx, (n, n_crops), 0, Wd - s + 1)

    def one(img, y0, x0):
        crop = jax.lax.dynamic_slice(img, (0, y0, x0), (ch, s, s))
        return jax.image.resize(crop, (ch, H, Wd), method="bilinear")

    per_image = jax.vmap(one, in_axes=(None, 0, 0))
    crops = jax.vmap(per_image)(images, oy, ox)
    return crops.reshape(n * n_crops, ch, H, Wd)


def craft_activations(images, g: Callable, *, key, n_crops: int = 8, crop_fraction: float = 0.5,
                      batch_size: int = 64) -> np.ndarray:
    """Spatially averaged activations of random crops: ``mean_{h,w} g(crop)``.

    Args:
        images: ``(n, ch, H, W)`` preprocessed images.
        g: encoder; ``g(batch)`` returns ``(B, c, h, w)`` or ``(B, c)`` (array-like; may be torch).
        key, n_crops, crop_fraction: as in :func:`random_crops`.
        batch_size: crops per call of ``g``.

    Returns:
        ``(n · n_crops, c)`` float32 rows, image-major (row ``i · n_crops + j`` is image i's j-th
        crop).
    """
    crops = random_crops(images, key=key, n_crops=n_crops, crop_fraction=crop_fraction)
    out = []
    for i in range(0, crops.shape[0], batch_size):
        act = np.asarray(g(np.asarray(crops[i:i + batch_size])), np.float32)
        if act.ndim == 4:
            act = act.mean(axis=(2, 3))
        if act.ndim != 2:
            raise ValueError(f"g should return (B, c, h, w) or (B, c), got shape {act.shape}")
        out.append(act)
    return np.concatenate(out, 0)


# --------------------------------------------------------------------------------------------
# fit


def fit_craft(A_crops, y_crops, k: int, *, key, n_classes: int | None = None, max_iter: int = 200,
              tol: float = 1e-4) -> Craft:
    """NMF of each class's crop activations into k concepts (all classes in one vmapped solve).

    Classes are zero-padded to the same row count: zero rows get zero codes and change neither W nor
    the relative error, so the padded problems are the per-class problems.

    Args:
        A_crops: ``(m, c)`` non-negative crop activations (:func:`craft_activations`).
        y_crops: ``(m,)`` class of each crop.
        k: concepts per class.
        key: PRNG key (one NMF start per class, folded from it).

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


# --------------------------------------------------------------------------------------------
# Sobol total indices (Jansen estimator) over concept masks


def _primes(m: int) -> list[int]:
    out, x = [], 2
    while len(out) < m:
        if all(x % p for p in out if p * p <= x):
            out.append(x)
        x += 1
    return out


def qmc_masks(key, n: int, d: int) -> jax.Array:
    """``(n, d)`` randomly shifted Halton points in [0, 1)^d (Cranley–Patterson rotation by key)."""
    idx = np.arange(1, n + 1)
    pts = np.zeros((n, d), np.float64)
    for j, base in enumerate(_primes(d)):
        i, f = idx.copy(), np.full(n, 1.0)
        while np.any(i > 0):
            f = f / base
            pts[:, j] += f * (i % base)
            i = i // base
    shift = jax.random.uniform(key, (d,))
    return jnp.mod(jnp.asarray(pts, jnp.float32) + shift, 1.0)


def sobol_total_indices(codes, W, h: Callable, *, key, n_designs: int = 32) -> jax.Array:
    """Sobol total indices of k concepts for a score ``h`` (Jansen estimator), mean over rows.

    For one row with codes ``u`` (``(k,)``), the concept-masked score is ``f(m) = h((u ⊙ m) W)``
    with ``m ∈ [0, 1]^k`` (CRAFT's perturbation). With QMC matrices ``M_A, M_B`` (``(N, k)``) and
    ``M_C^i`` = ``M_A`` with column i taken from ``M_B``, Jansen's estimator is

        S_T,i = mean((f(M_A) − f(M_C^i))²) / (2 Var f(M_A)).

    Rows whose score does not vary (``Var = 0``) contribute 0.

    Args:
        codes: ``(m, k)`` codes of the rows (crops or images) of one class.
        W: ``(k, c)`` that class's concepts.
        h: maps ``(p, c)`` activations to ``(p,)`` scores (e.g. the class logit); pure JAX.
        key: PRNG key for the QMC shift.
        n_designs: N.

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


def craft_importance(model: Craft, A_crops, y_crops, h: Callable, *, key, n_designs: int = 32):
    """``(Y, k)`` Sobol total indices per class: codes of the class's crops, ``h(x, cls)`` scores.

    Args:
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
