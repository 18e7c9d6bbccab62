"""The C2MF paper's evaluation suite (§3.3) as pure functions over any ``ConceptDecomposition``.

Images are handled as groups of rows: an image's activation map ``(c, h, w)`` is the ``(h·w, c)``
block of rows the methods factorise. ``h`` is the classifier head on one image's rows,
``(p, c) -> (K,)`` logits (for a GAP + linear head: ``rows.mean(0) @ weight.T + bias``).

- :func:`concept_importance` — Grad-CAM or Integrated Gradients on the codes, per concept;
- :func:`insertion_deletion` — concept insertion/deletion curves and their AUCs (Petsiuk et al.);
- :func:`concept_similarity` — mean ± std of pairwise |Pearson| and |cosine| between concepts;
- :func:`reconstruction_accuracy` — accuracy of ``h`` on ``U_test W`` per class (label / own pred.);
- :func:`consistency` — train MSE, test MSE and their difference.

Everything is written for one image and vmapped over a batch of images.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "concept_importance",
    "insertion_deletion",
    "InsertionDeletion",
    "concept_similarity",
    "reconstruction_accuracy",
    "consistency",
]

Recon = Callable[[jax.Array, jax.Array], jax.Array]  # (p, k) codes, class -> (p, c) rows
Head = Callable[[jax.Array], jax.Array]  # (p, c) rows -> (K,) logits


def _score(h, recon, U, cls, target):
    return jax.nn.softmax(h(recon(U, cls)))[target]


def concept_importance(U, cls, target, recon: Recon, h: Head, *, method: str = "gradcam",
                       n_steps: int = 16):
    """Importance of each concept for one image, from gradients of the target's logit w.r.t. codes.

    - ``"gradcam"``: ``w_j = mean_p ∂z_t/∂U_pj`` (the Grad-CAM channel weight, here a concept), and
      importance ``w_j · mean_p U_pj``;
    - ``"ig"``: Integrated Gradients from the zero-code baseline, ``Σ_p U_pj · mean_s ∂z_t/∂U_pj
      (s U / n)``, ``n_steps`` midpoint steps (completeness: sums to ``z_t(U) − z_t(0)``).

    Args:
        U: ``(p, k)`` codes of the image's rows; cls: the class whose gates/dictionary reconstruct;
        target: the logit explained; recon, h: see module docstring.

    Returns:
        ``(k,)`` importances.
    """
    logit = lambda V: h(recon(V, cls))[target]  # noqa: E731
    if method == "gradcam":
        g = jax.grad(logit)(U)
        return g.mean(0) * U.mean(0)
    if method == "ig":
        alphas = (jnp.arange(n_steps) + 0.5) / n_steps
        grads = jax.vmap(lambda a: jax.grad(logit)(a * U))(alphas)
        return jnp.sum(U * grads.mean(0), axis=0)
    raise ValueError(f"method={method!r} should be one of 'gradcam', 'ig'")


class InsertionDeletion(NamedTuple):
    """Curves ``(B, k + 1)`` (step s: s concepts inserted / deleted) and AUCs ``(B,)``."""

    insertion: jax.Array
    deletion: jax.Array
    insertion_auc: jax.Array
    deletion_auc: jax.Array


def _curves_one(U, cls, target, importance, recon, h):
    k = U.shape[1]
    rank = jnp.argsort(jnp.argsort(-importance))  # 0 = most important
    steps = jnp.arange(k + 1)
    keep_ins = rank[None, :] < steps[:, None]  # (k+1, k): top-s concepts present
    keep_del = ~keep_ins  # top-s concepts removed
    ins = jax.vmap(lambda m: _score(h, recon, U * m, cls, target))(keep_ins.astype(U.dtype))
    dele = jax.vmap(lambda m: _score(h, recon, U * m, cls, target))(keep_del.astype(U.dtype))
    return ins, dele


def _auc(curve):
    """Trapezoidal area on an x axis rescaled to [0, 1]."""
    return jnp.sum((curve[..., 1:] + curve[..., :-1]) / 2, axis=-1) / (curve.shape[-1] - 1)


def insertion_deletion(U, cls, target, recon: Recon, h: Head, *, method: str = "gradcam",
                       n_steps: int = 16) -> InsertionDeletion:
    """Concept insertion/deletion curves for a batch of images, ranked by ``method``.

    Insertion starts from all codes zeroed and adds concepts most-important first; deletion starts
    from all codes and removes them in the same order. The curve is the softmax probability of
    ``target``. Higher insertion AUC and lower deletion AUC are better.

    Args:
        U: ``(B, p, k)`` codes of each image's rows; cls: ``(B,)`` class used to reconstruct
            (gate / per-class dictionary); target: ``(B,)`` explained class.
    """
    U, cls, target = jnp.asarray(U), jnp.asarray(cls), jnp.asarray(target)
    if U.ndim != 3:
        raise ValueError(f"U should be (B, p, k), got shape {U.shape}")

    def one(u, c, t):
        imp = concept_importance(u, c, t, recon, h, method=method, n_steps=n_steps)
        return _curves_one(u, c, t, imp, recon, h)

    ins, dele = jax.vmap(one)(U, cls, target)
    return InsertionDeletion(ins, dele, _auc(ins), _auc(dele))


def _pairwise_stats(W):
    W = jnp.asarray(W, jnp.float32)
    k = W.shape[0]
    off = ~jnp.eye(k, dtype=bool)
    norms = jnp.linalg.norm(W, axis=1, keepdims=True)
    Wn = W / jnp.where(norms > 0, norms, 1.0)
    cos = jnp.abs(Wn @ Wn.T)[off]
    Wc = W - W.mean(1, keepdims=True)
    sd = jnp.linalg.norm(Wc, axis=1, keepdims=True)
    Wc = Wc / jnp.where(sd > 0, sd, 1.0)
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


def reconstruction_accuracy(model, A_images, y, label, pred, h: Head, *, n_classes: int,
                            U=None) -> dict:
    """Per-class accuracy of ``h`` on reconstructed activations ``U_test W`` (§3.3, Table 2).

    Args:
        model: a ``ConceptDecomposition``.
        A_images: ``(B, p, c)`` each image's rows; y: ``(B,)`` class used for the codes
            (gate / dictionary);
        label: ``(B,)`` ground truth (-1 = unknown); pred: ``(B,)`` the model's own prediction.
        U: ``(B·p, k)`` codes of the rows when already computed (default: ``model.transform``).

    Returns:
        per-class arrays ``acc_label``, ``acc_pred`` (NaN for classes without images) and their
        mean ± std over classes that have images.
    """
    A_images = jnp.asarray(A_images)
    B, p, c = A_images.shape
    y_rows = np.repeat(np.asarray(y), p)
    if U is None:
        U = model.transform(A_images.reshape(B * p, c), y_rows)
    A_hat = model.reconstruct(U, y_rows).reshape(B, p, c)
    rec_pred = np.asarray(jnp.argmax(jax.vmap(h)(A_hat), axis=-1))
    out = {}
    for name, ref in (("label", np.asarray(label)), ("pred", np.asarray(pred))):
        acc = np.full(n_classes, np.nan)
        for cl in range(n_classes):
            sel = ref == cl
            if sel.any():
                acc[cl] = float((rec_pred[sel] == cl).mean())
        have = ~np.isnan(acc)
        out[f"acc_{name}"] = acc
        out[f"acc_{name}_mean"] = float(acc[have].mean()) if have.any() else float("nan")
        out[f"acc_{name}_std"] = float(acc[have].std()) if have.any() else float("nan")
    return out


def consistency(model, A_train, y_train, A_test, y_test, *, U_train=None, U_test=None) -> dict:
    """Train MSE, test MSE of ``‖A − reconstruct(transform(A))‖²`` per entry, and test − train,
    plus the mean ± std over classes of the per-class MSE (``{train,test}_class_{mean,std}``).

    ``U_train`` / ``U_test``: codes when already computed (default: ``model.transform``).
    """
    out = {}
    for name, A, y, U in (("train", A_train, y_train, U_train), ("test", A_test, y_test, U_test)):
        A = jnp.asarray(A, jnp.float32)
        U = model.transform(A, y) if U is None else U
        err = np.asarray(jnp.mean((A - model.reconstruct(U, y)) ** 2, axis=1))
        y = np.asarray(y)
        per = np.array([err[y == c].mean() for c in np.unique(y)])
        out[f"{name}_mse"] = float(err.mean())
        out[f"{name}_class_mean"], out[f"{name}_class_std"] = float(per.mean()), float(per.std())
    out["difference"] = out["test_mse"] - out["train_mse"]
    return out
