"""The C2MF paper's evaluation suite (§3.3) as pure functions over any ``ConceptDecomposition``.

Images are handled as groups of rows: an image's activation map ``(c, h, w)`` is the ``(h·w, c)``
block of rows the methods factorise. ``h`` is the classifier head on one image's rows,
``(p, c) -> (K,)`` logits (for a GAP + linear head: ``rows.mean(0) @ weight.T + bias``).

- :func:`insertion_deletion` — concept insertion/deletion curves and their AUCs (Petsiuk et al.),
  concepts ranked by Grad-CAM or Integrated Gradients on the codes
  (:func:`jaxconcepts.importance.code_importance`);
- :func:`concept_similarity` — mean ± std of pairwise |Pearson| and |cosine| between concepts;
- :func:`reconstruction_accuracy` — accuracy of ``h`` on ``U_test W`` per fitted class, against
  the label and the model's own prediction (both head outputs);
- :func:`consistency` — train MSE, test MSE and their difference.

Everything is written for one image and vmapped over a batch of images. The ``model_*`` functions
take the fitted model (an equinox Module or any pytree) as a traced argument: one compiled program
serves every model of the same type and shape, and every batch of the same size. :class:`ClassMSE`
and :func:`per_class_accuracy` accumulate over batches, so the suite streams.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts._checks import safe_div
from jaxconcepts.heads import head_fn
from jaxconcepts.importance._gradients import Recon, code_importance

__all__ = [
    "insertion_deletion",
    "model_insertion_deletion",
    "reconstructed_predictions",
    "per_class_accuracy",
    "ClassMSE",
    "InsertionDeletion",
    "insertion_masks",
    "concept_similarity",
    "reconstruction_accuracy",
    "consistency",
]

def _score(h, recon, U, cls, target):
    return jax.nn.softmax(h(recon(U, cls)))[target]


class InsertionDeletion(NamedTuple):
    """Curves ``(B, k + 1)`` (step s: s concepts inserted / deleted), AUCs ``(B,)`` and the
    concept importances ``(B, k)`` that ranked them."""

    insertion: jax.Array
    deletion: jax.Array
    insertion_auc: jax.Array
    deletion_auc: jax.Array
    importance: jax.Array


def insertion_masks(importance):
    """``(k + 1, k)`` bool: row s keeps the s most important concepts (insertion step s); its
    complement removes them (deletion step s). Ties keep the lower index first."""
    k = importance.shape[-1]
    if isinstance(importance, np.ndarray):  # the host path, in numpy (stable, as jnp.argsort)
        rank = np.argsort(np.argsort(-importance, kind="stable"), kind="stable")
        return rank[None, :] < np.arange(k + 1)[:, None]
    rank = jnp.argsort(jnp.argsort(-importance))  # 0 = most important
    return rank[None, :] < jnp.arange(k + 1)[:, None]


def _curves_one(U, cls, target, importance, recon, h):
    keep_ins = insertion_masks(importance)  # (k+1, k): top-s concepts present
    keep_del = ~keep_ins  # top-s concepts removed
    ins = jax.vmap(lambda m: _score(h, recon, U * m, cls, target))(keep_ins.astype(U.dtype))
    dele = jax.vmap(lambda m: _score(h, recon, U * m, cls, target))(keep_del.astype(U.dtype))
    return ins, dele


def _auc(curve):
    """Trapezoidal area on an x axis rescaled to [0, 1]."""
    return ((curve[..., 1:] + curve[..., :-1]) / 2).sum(axis=-1) / (curve.shape[-1] - 1)


def insertion_deletion(U, cls, target, recon: Recon, h: Callable, *, method: str,
                       n_steps: int) -> InsertionDeletion:
    """Concept insertion/deletion curves for a batch of images, ranked by ``method``.

    Insertion starts from all codes zeroed and adds concepts most-important first; deletion starts
    from all codes and removes them in the same order. The curve is the softmax probability of
    ``target``. Higher insertion AUC and lower deletion AUC are better.

    Args:
        U: ``(B, p, k)`` codes of each image's rows; cls: ``(B,)`` class used to reconstruct
            (gate / per-class dictionary; a C2MF class); target: ``(B,)`` explained class, a
            head output (it need not equal ``cls``: folder classes are not head outputs).
    """
    U, cls, target = jnp.asarray(U), jnp.asarray(cls), jnp.asarray(target)
    if U.ndim != 3:
        raise ValueError(f"U should be (B, p, k), got shape {U.shape}")

    def one(u, c, t):
        imp = code_importance(u, c, t, recon, h, method=method, n_steps=n_steps)
        return (*_curves_one(u, c, t, imp, recon, h), imp)

    ins, dele, imp = jax.vmap(one)(U, cls, target)
    return InsertionDeletion(ins, dele, _auc(ins), _auc(dele), imp)


def _pairwise_stats(W):
    W = jnp.asarray(W, jnp.float32)
    k = W.shape[0]
    off = ~jnp.eye(k, dtype=bool)
    Wn = safe_div(W, jnp.linalg.norm(W, axis=1, keepdims=True))
    cos = jnp.abs(Wn @ Wn.T)[off]
    Wc = W - W.mean(1, keepdims=True)
    Wc = safe_div(Wc, jnp.linalg.norm(Wc, axis=1, keepdims=True))
    pear = jnp.abs(Wc @ Wc.T)[off]
    return pear, cos


def concept_similarity(concepts) -> dict:
    """Mean ± std of pairwise |Pearson correlation| and |cosine similarity| between concepts.

    Args:
        concepts: ``(k, c)`` or ``(Y, k, c)`` (pairs are taken within each class, then pooled).

    Returns:
        ``{"pearson_mean", "pearson_std", "cosine_mean", "cosine_std", "n_pairs"}``.
    """
    C = jnp.asarray(concepts)
    if C.ndim == 2:
        C = C[None]
    if C.ndim != 3 or C.shape[1] < 2:
        raise ValueError(f"concepts should be (k, c) or (Y, k, c) with k >= 2, got {C.shape}")
    keep = np.asarray(jnp.any(C != 0, axis=(1, 2)))  # drop classes that were not fitted
    pear, cos = jax.vmap(_pairwise_stats)(C[keep])
    pear, cos = np.asarray(pear).ravel(), np.asarray(cos).ravel()
    return {"pearson_mean": float(pear.mean()), "pearson_std": float(pear.std()),
            "cosine_mean": float(cos.mean()), "cosine_std": float(cos.std()),
            "n_pairs": int(pear.size)}


def _recon(model):
    def recon(V, c):
        return model.reconstruct(V, jnp.full((V.shape[0],), c, jnp.int32))

    return recon


@eqx.filter_jit
def model_insertion_deletion(model, head, U, cls, target, *, methods: tuple,
                             n_steps: int) -> tuple:
    """:func:`insertion_deletion` of a fitted model for each ranking in ``methods`` (one program).

    Args:
        model: a ``ConceptDecomposition`` pytree; head: GAP + linear head record.
        U: ``(B, p, k)`` codes; cls: ``(B,)`` fitted class; target: ``(B,)`` explained logit.
    """
    return tuple(insertion_deletion(U, cls, target, _recon(model), head_fn(head),
                                    method=m, n_steps=n_steps) for m in methods)


@eqx.filter_jit
def _recon_argmax(model, head, U, y_rows, shape):
    A_hat = model.reconstruct(U, y_rows).reshape(shape)
    return jnp.argmax(jax.vmap(head_fn(head))(A_hat), axis=-1)


def reconstructed_predictions(model, head, U, y_images, p: int, c: int) -> np.ndarray:
    """``(B,)`` the head's class on each image's reconstructed rows ``reconstruct(U, y)``.

    Args:
        U: ``(B·p, k)`` codes of B images' rows; y_images: ``(B,)`` fitted class per image.
    """
    y_rows = jnp.repeat(jnp.asarray(y_images, jnp.int32), p)
    B = int(np.shape(y_images)[0])
    return np.asarray(_recon_argmax(model, head, jnp.asarray(U), y_rows, (B, p, c)))


def per_class_accuracy(rec_pred, ref, n_classes: int, *,
                       groups=None) -> tuple[np.ndarray, float, float]:
    """Per-class accuracy of ``rec_pred == ref`` (NaN for classes without images), and its
    mean ± std over the classes that have images (NaN when none).

    Args:
        rec_pred: ``(n,)`` the head's output on each reconstruction; ref: ``(n,)`` the reference
            head output (-1 = unknown: left out).
        n_classes: the number of classes (of ``groups``, or of the head without them).
        groups: ``(n,)`` the class each image counts for, in ``[0, n_classes)`` (C2MF's fitted
            class, which need not be a head output); default ``ref`` (classes are head outputs).
    """
    rec_pred, ref = np.asarray(rec_pred), np.asarray(ref)
    groups = ref if groups is None else np.asarray(groups)
    acc = np.full(n_classes, np.nan)
    for cl in range(n_classes):
        sel = (groups == cl) & (ref >= 0)
        if sel.any():
            acc[cl] = float((rec_pred[sel] == ref[sel]).mean())
    have = ~np.isnan(acc)
    if not have.any():
        return acc, float("nan"), float("nan")
    return acc, float(acc[have].mean()), float(acc[have].std())


def reconstruction_accuracy(model, A_images, y, label, pred, h: Callable, *, n_classes: int,
                            U=None) -> dict:
    """Per-class accuracy of ``h`` on reconstructed activations ``U_test W`` (§3.3, Table 2).

    The classes are C2MF's fitted classes ``y`` ("for each category"); the references are head
    outputs: the model's own prediction and, when it is one, the label.

    Args:
        model: a ``ConceptDecomposition``.
        A_images: ``(B, p, c)`` each image's rows; y: ``(B,)`` fitted class in ``[0, n_classes)``
            used for the codes (gate / dictionary) and for the per-class grouping;
        label: ``(B,)`` ground truth as a head output (-1 = unknown, or the label is a folder
            class that is not a head output); pred: ``(B,)`` the model's own prediction.
        n_classes: Y, the number of fitted classes.
        U: ``(B·p, k)`` codes of the rows when already computed (default: ``model.transform``).

    Returns:
        per-class arrays ``acc_label``, ``acc_pred`` ``(Y,)`` (NaN for classes without images)
        and their mean ± std over classes that have images.
    """
    A_images = jnp.asarray(A_images)
    B, p, c = A_images.shape
    y_rows = np.repeat(np.asarray(y), p)
    if U is None:
        U = model.transform(A_images.reshape(B * p, c), y_rows)
    A_hat = model.reconstruct(U, y_rows).reshape(B, p, c)
    rec_pred = np.asarray(jnp.argmax(jax.vmap(h)(A_hat), axis=-1))
    out = {}
    for name, ref in (("label", label), ("pred", pred)):
        acc, mean, std = per_class_accuracy(rec_pred, ref, n_classes, groups=y)
        out[f"acc_{name}"], out[f"acc_{name}_mean"], out[f"acc_{name}_std"] = acc, mean, std
    return out


class ClassMSE:
    """Accumulates ``mean_c (A − Â)²`` per row over batches: overall and per-class mean."""

    def __init__(self):
        self.sums: dict[int, float] = {}
        self.counts: dict[int, int] = {}

    def add(self, A, A_hat, y) -> None:
        """Rows ``A``, reconstructions ``A_hat`` ``(n, c)`` and their classes ``y`` ``(n,)``."""
        err = np.asarray(jnp.mean((jnp.asarray(A, jnp.float32) - A_hat) ** 2, axis=1),
                         np.float64)
        y = np.asarray(y)
        for c in np.unique(y):
            sel = y == c
            self.sums[int(c)] = self.sums.get(int(c), 0.0) + float(err[sel].sum())
            self.counts[int(c)] = self.counts.get(int(c), 0) + int(sel.sum())

    def summary(self, name: str) -> dict:
        """``{name}_mse`` (all rows) and ``{name}_class_{mean,std}`` (over classes)."""
        n = sum(self.counts.values())
        per = np.array([self.sums[c] / self.counts[c] for c in sorted(self.sums)])
        return {f"{name}_mse": sum(self.sums.values()) / n if n else float("nan"),
                f"{name}_class_mean": float(per.mean()) if per.size else float("nan"),
                f"{name}_class_std": float(per.std()) if per.size else float("nan")}


def consistency(model, A_train, y_train, A_test, y_test, *, U_train=None, U_test=None) -> dict:
    """Train MSE, test MSE of ``‖A − reconstruct(transform(A))‖²`` per entry, and test − train,
    plus the mean ± std over classes of the per-class MSE (``{train,test}_class_{mean,std}``).

    ``U_train`` / ``U_test``: codes when already computed (default: ``model.transform``).
    """
    out = {}
    for name, A, y, U in (("train", A_train, y_train, U_train), ("test", A_test, y_test, U_test)):
        acc = ClassMSE()
        U = model.transform(A, y) if U is None else U
        acc.add(A, model.reconstruct(U, y), y)
        out.update(acc.summary(name))
    out["difference"] = out["test_mse"] - out["train_mse"]
    return out
