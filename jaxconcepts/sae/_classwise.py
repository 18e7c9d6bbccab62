"""C2MF, CRAFT (its NMF) and the per-class PCA baseline on the synthetic ground,
scored like the SAEs.

The three are class-conditional: they need each row's class, the ground's classes of
:func:`~jaxconcepts.sae.synthetic_classes` (a row's strongest top-level feature group), read from
the feature store that :func:`~jaxconcepts.sae.write_feature_store` wrote with ``hw=(1, 1)``
(one row per image, so every row has its own class).

- **C2MF** (:func:`jaxconcepts.streaming.fit_c2mf_streamed`, streamed from the feature store):
  one shared signed dictionary of ``k`` atoms and per-class gates. Its atoms are the ``k`` rows
  of ``W``; a row's codes are ``U ⊙ σ(λ_y)`` (its class's gates applied), so R² is of
  ``(U ⊙ σ(λ_y)) W``. Random counterpart: a random Gaussian dictionary of its shape ``(k, c)``.
- **CRAFT** (:func:`jaxconcepts.concepts.fit_craft`, in memory): per-class NMF. The synthetic
  rows have no images to crop, so CRAFT here is its NMF dictionary of each class's rows. NMF
  needs ``A ≥ 0`` and the ground is signed: it is fitted on, and its R² measured on,
  ``max(A, 0)`` of the same rows, while its atoms are compared with the same signed true atoms
  as every other method's. A non-negative atom matches a signed atom ``w`` at most to
  ``max(‖w⁺‖, ‖w⁻‖)``: :func:`nonnegative_ceiling` is the MCC that a perfect non-negative
  dictionary would reach. In memory, not streamed, as the C2MF suite fits CRAFT whenever its
  rows are no more than ``init_rows``: :func:`jaxconcepts.streaming.fit_nmf_streamed` re-solves
  every row's HALS codes from zero each pass, and on this ground it took over ten times
  ``fit_craft``'s time for the same error. Random counterpart: ``Y``
  blocks of ``k`` random non-negative unit directions.
- **PCA** (:func:`jaxconcepts.streaming.fit_pca_streamed`, streamed): per class, the top ``k``
  components and the class mean. Deterministic: every seed is the same fit, so its stability is
  1 by construction, not by merit. Random counterpart: ``Y`` blocks of ``k`` random orthonormal
  directions.

**Per-class dictionaries** (CRAFT, PCA) have ``Y · k`` atoms: all are pooled into one
``(Y · k, c)`` dictionary matched one-to-one to the true atoms (MCC over the true atoms; F1's
precision over all ``Y · k``). Codes are laid out in that pooled space (a row's codes are zero
outside its class's block, so a dead latent is a pooled atom that codes none of its class's
rows), and R² is each row reconstructed by its own class's dictionary (plus its class mean for
PCA). The knob is ``k`` (atoms per class; C2MF's shared atoms), at most ``c``: the three methods
refuse more.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from jaxconcepts.sae._baselines import random_directions

__all__ = ["CLASS_METHODS", "ClassDictionary", "class_fitters", "nonnegative_ceiling"]

CLASS_METHODS = ("c2mf", "craft", "pca")
C2MF_KEYS = ("alpha", "max_steps", "tol", "code_sweeps", "gate_steps", "dict_sweeps",
             "learning_rate", "init_rows", "images_per_batch")
CRAFT_KEYS = ("max_iter", "tol")


@dataclasses.dataclass(frozen=True)
class ClassDictionary:
    """A class-conditional fit as the scoreboard reads it (module docstring).

    Attributes:
        model: the fitted :class:`~jaxconcepts.concepts.C2MF`, ``Craft`` or ``PCABaseline``.
        pooled: per-class dictionaries ``(Y, k, c)`` pooled into ``(Y·k, c)`` (False: C2MF's
            shared ``(k, c)``).
    """

    model: object
    pooled: bool

    @property
    def W(self) -> np.ndarray:
        """The scored atoms ``(m, c)``: C2MF's ``k``, or the ``Y · k`` pooled."""
        W = np.asarray(self.model.W, np.float64)
        return W.reshape(-1, W.shape[-1])

    def transform(self, A, y) -> np.ndarray:
        """``(n, m)`` codes of rows ``A`` of classes ``y`` in the scored atoms' space."""
        y = np.asarray(y)
        U = np.asarray(self.model.transform(A, y))
        if not self.pooled:
            return U * np.asarray(self.model.gates)[y]
        Y, k = np.shape(self.model.W)[:2]
        out = np.zeros((U.shape[0], Y, k), U.dtype)
        out[np.arange(U.shape[0]), y] = U
        return out.reshape(U.shape[0], Y * k)

    def reconstruct(self, U, y) -> np.ndarray:
        """``(n, c)`` rows rebuilt from :meth:`transform`'s codes."""
        y, U = np.asarray(y), np.asarray(U)
        if not self.pooled:
            return U @ np.asarray(self.model.W)
        Y, k = np.shape(self.model.W)[:2]
        own = U.reshape(U.shape[0], Y, k)[np.arange(U.shape[0]), y]
        return np.asarray(self.model.reconstruct(own, y))


def nonnegative_ceiling(W_true) -> float:
    """The MCC of the best non-negative dictionary against signed atoms ``W_true (F, c)``:
    the mean over atoms of ``max(‖w⁺‖, ‖w⁻‖) / ‖w‖`` (one non-negative atom per true atom)."""
    W = np.asarray(W_true, np.float64)
    norm = np.linalg.norm(W, axis=1)
    best = np.maximum(np.linalg.norm(np.maximum(W, 0), axis=1),
                      np.linalg.norm(np.maximum(-W, 0), axis=1))
    return float(np.mean(best / np.where(norm > 0, norm, 1.0)))


def _check(method, A, y, n_classes, store, settings):
    if method not in CLASS_METHODS:
        raise ValueError(f"method={method!r}; valid choices: {list(CLASS_METHODS)}")
    if y is None or np.shape(y) != (A.shape[0],):
        raise ValueError(f"{method} needs each row's class: y should have shape "
                         f"({A.shape[0]},), got {None if y is None else np.shape(y)}")
    counts = np.bincount(np.asarray(y), minlength=n_classes)
    if counts.size != n_classes or counts.min() < 2:
        raise ValueError(f"{method}: every class of n_classes={n_classes} needs >= 2 rows, "
                         f"got counts {counts.tolist()}")
    if method in ("c2mf", "pca") and store is None:
        raise ValueError(f"{method} is fitted streamed: give store (the feature store of A)")
    need = {"c2mf": C2MF_KEYS, "craft": CRAFT_KEYS, "pca": ()}[method]
    if sorted(settings) != sorted(need):
        raise ValueError(f"{method} settings: got keys {sorted(settings)}, expected "
                         f"{sorted(need)}")


def _rows(store, n_classes, images_per_batch, n_rows):
    from jaxconcepts.streaming import RowsView

    rows = RowsView(store, images_per_batch=int(images_per_batch), n_classes=n_classes,
                    prefetch=0, cache_bytes=1 << 30)
    if rows.n_rows != n_rows:
        raise ValueError(f"store {str(store)!r} holds {rows.n_rows} rows; A has {n_rows}: the "
                         "store should hold A's rows")
    return rows


def class_fitters(method: str, A, y, *, n_classes: int, store=None, settings: dict):
    """``(fit, random, A_m)`` for one class-conditional method (module docstring).

    Args:
        A: ``(n, c)`` the ground's rows (the store's, in its order); y: ``(n,)`` their classes.
        store: the feature store holding ``A`` (C2MF and PCA are fitted streamed from it).
        settings: C2MF: :data:`C2MF_KEYS` (``fit_c2mf_streamed``'s, and the rows view's
            ``images_per_batch``); CRAFT: :data:`CRAFT_KEYS` (``fit_craft``'s); PCA: none.

    Returns:
        ``fit(k, seed) -> ClassDictionary``; ``random(k, seed) -> (m, c)`` its random
        counterpart's atoms; ``A_m`` the rows the method is fitted and scored on (``max(A, 0)``
        for CRAFT, else ``A``).
    """
    A = np.asarray(A, np.float32)
    _check(method, A, y, n_classes, store, settings)
    c = A.shape[1]
    if method == "craft":
        from jaxconcepts.concepts import fit_craft

        A_pos = np.maximum(A, 0.0)

        def fit(k, s):
            return ClassDictionary(fit_craft(A_pos, y, int(k), key=jax.random.key(s),
                                             n_classes=n_classes, **settings), True)

        return fit, (lambda k, s: random_directions(int(k), c, seed=s, kind="nonnegative",
                                                    blocks=n_classes)), A_pos
    if method == "pca":
        from jaxconcepts.streaming import fit_pca_streamed

        rows = _rows(store, n_classes, 2048, A.shape[0])
        return ((lambda k, s: ClassDictionary(fit_pca_streamed(rows, int(k)), True)),
                (lambda k, s: random_directions(int(k), c, seed=s, kind="orthonormal",
                                                blocks=n_classes)), A)
    from jaxconcepts.streaming import fit_c2mf_streamed

    kw = dict(settings)
    rows = _rows(store, n_classes, kw.pop("images_per_batch"), A.shape[0])

    def fit_c2mf(k, s):
        return ClassDictionary(fit_c2mf_streamed(rows, int(k), key=jax.random.key(s), **kw),
                               False)

    return fit_c2mf, (lambda k, s: random_directions(int(k), c, seed=s)), A
