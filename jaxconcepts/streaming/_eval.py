"""Streamed evaluation: the C2MF paper's metrics (§3.3) as accumulators over batches of images.

Every function consumes an iterable of image batches and keeps only per-class sums, so memory
does not grow with the number of test images. A batch is any of

- a :class:`jaxconcepts.features.RowBatch` (``A (B, p, c)``, ``y``, ``valid``),
- a tuple ``(A_images (B, p, c), y (B,))``, or ``(A_images, y, label, pred)`` for the accuracy,

where ``y`` is the class whose gate / dictionary reconstructs the image. Codes come from
``model.transform`` (any :class:`~jaxconcepts.concepts.ConceptDecomposition`); pass ``codes=``
(a function ``(model, rows (n, c), y_rows (n,)) -> (n, k)``) to use e.g. a streamed/sharded
transform instead.

- :func:`streamed_mse` / :func:`streamed_consistency` — the ``consistency`` metric;
- :func:`streamed_reconstruction_accuracy` — accuracy of ``h`` on ``U W`` per class;
- :func:`streamed_insertion_deletion` — mean insertion/deletion AUCs (per-batch curves from
  :func:`jaxconcepts.evaluation._c2mf_eval.insertion_deletion`, averaged over images);
- concept similarity needs only the dictionary: ``concept_similarity(model.concepts)``;
- the ablation (shared gated dictionary vs clustered per-class concepts) is two models scored by
  the functions above.
"""

from __future__ import annotations

from typing import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["streamed_mse", "streamed_consistency", "streamed_reconstruction_accuracy",
           "streamed_insertion_deletion"]


def _default_codes(model, A, y):
    return model.transform(A, y)


def _unpack(batch):
    """``(A (B, p, c) float32, y (B,), extra tuple)`` restricted to valid images."""
    if hasattr(batch, "valid"):
        v = np.asarray(batch.valid)
        return np.asarray(batch.A)[v], np.asarray(batch.y)[v], ()
    A, y, *extra = batch
    return np.asarray(A, np.float32), np.asarray(y), tuple(np.asarray(e) for e in extra)


def _codes_and_recon(model, A, y, codes):
    B, p, c = A.shape
    y_rows = np.repeat(y, p)
    U = codes(model, A.reshape(B * p, c), y_rows)
    return U, model.reconstruct(U, y_rows).reshape(B, p, c)


def streamed_mse(model, batches: Iterable, *, n_classes: int,
                 codes: Callable = _default_codes) -> dict:
    """Per-entry MSE of ``A − reconstruct(transform(A))``, overall and mean ± std over classes
    (as ``consistency``'s ``{split}_mse``, ``{split}_class_mean/std``)."""
    sq = np.zeros(n_classes)
    cnt = np.zeros(n_classes)
    for batch in batches:
        A, y, _ = _unpack(batch)
        if A.shape[0] == 0:
            continue
        _, R = _codes_and_recon(model, A, y, codes)
        err = np.asarray(jnp.sum((jnp.asarray(A) - R) ** 2, axis=(1, 2)), np.float64)
        np.add.at(sq, y, err)
        np.add.at(cnt, y, A.shape[1] * A.shape[2])
    if not cnt.any():
        raise ValueError("streamed_mse got no valid images")
    have = cnt > 0
    per = sq[have] / cnt[have]
    return {"mse": float(sq.sum() / cnt.sum()), "class_mean": float(per.mean()),
            "class_std": float(per.std())}


def streamed_consistency(model, train_batches: Iterable, test_batches: Iterable, *,
                         n_classes: int, codes: Callable = _default_codes) -> dict:
    """Train MSE, test MSE and their difference (``consistency``), streamed."""
    out = {}
    for name, batches in (("train", train_batches), ("test", test_batches)):
        r = streamed_mse(model, batches, n_classes=n_classes, codes=codes)
        out[f"{name}_mse"] = r["mse"]
        out[f"{name}_class_mean"], out[f"{name}_class_std"] = r["class_mean"], r["class_std"]
    out["difference"] = out["test_mse"] - out["train_mse"]
    return out


def streamed_reconstruction_accuracy(model, batches: Iterable, h: Callable, *, n_classes: int,
                                     codes: Callable = _default_codes) -> dict:
    """Per-class accuracy of ``h`` (one image's rows ``(p, c)`` -> ``(K,)`` logits) on the
    reconstructed images, against ``label`` and ``pred``; batches are
    ``(A_images, y, label, pred)``. Same keys as ``reconstruction_accuracy``."""
    hits = {"label": np.zeros(n_classes), "pred": np.zeros(n_classes)}
    tot = {"label": np.zeros(n_classes), "pred": np.zeros(n_classes)}
    hv = jax.jit(jax.vmap(h))
    for batch in batches:
        A, y, extra = _unpack(batch)
        if len(extra) != 2:
            raise ValueError("streamed_reconstruction_accuracy needs batches of "
                             "(A_images, y, label, pred)")
        _, R = _codes_and_recon(model, A, y, codes)
        rec = np.asarray(jnp.argmax(hv(R), axis=-1))
        for name, ref in zip(("label", "pred"), extra):
            ok = (ref >= 0) & (ref < n_classes)
            np.add.at(tot[name], ref[ok], 1)
            np.add.at(hits[name], ref[ok], rec[ok] == ref[ok])
    out = {}
    for name in ("label", "pred"):
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(tot[name] > 0, hits[name] / np.maximum(tot[name], 1), np.nan)
        have = ~np.isnan(acc)
        out[f"acc_{name}"] = acc
        out[f"acc_{name}_mean"] = float(acc[have].mean()) if have.any() else float("nan")
        out[f"acc_{name}_std"] = float(acc[have].std()) if have.any() else float("nan")
    return out


def streamed_insertion_deletion(model, batches: Iterable, h: Callable, *, target=None,
                                method: str = "gradcam", n_steps: int = 16,
                                codes: Callable = _default_codes) -> dict:
    """Mean insertion and deletion AUCs over all images (target = the reconstructing class
    unless ``target(A, y)`` gives another ``(B,)``)."""
    from jaxconcepts.evaluation._c2mf_eval import insertion_deletion

    def recon(U, cls):
        return model.reconstruct(U, jnp.full((U.shape[0],), cls))

    s_ins = s_del = 0.0
    n = 0
    for batch in batches:
        A, y, _ = _unpack(batch)
        if A.shape[0] == 0:
            continue
        B, p, _c = A.shape
        U, _ = _codes_and_recon(model, A, y, codes)
        t = y if target is None else np.asarray(target(A, y))
        res = insertion_deletion(jnp.asarray(U).reshape(B, p, -1), y, t, recon, h, method=method,
                                 n_steps=n_steps)
        s_ins += float(jnp.sum(res.insertion_auc))
        s_del += float(jnp.sum(res.deletion_auc))
        n += B
    if n == 0:
        raise ValueError("streamed_insertion_deletion got no valid images")
    return {"insertion_auc": s_ins / n, "deletion_auc": s_del / n, "n_images": n}
