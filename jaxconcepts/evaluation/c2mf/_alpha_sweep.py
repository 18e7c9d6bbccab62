"""The α sweep of C2MF's gate penalty: gate sparsity against reconstruction.

For each α, fit C2MF (Eq. 11) on the train rows and record

- sparsity: ``frac_open`` (share of gates σ(λ_y)_j >= ``gate_threshold``), ``concepts_per_class``
  (mean number of open gates per class), ``mean_gate``;
- reconstruction: accuracy of h on the reconstructed held-out images (the stage passes a
  validation split of the train images: :func:`sweep_fitted_split`), mean over the C2MF classes
  (against their own prediction and, when it is a head output, the label:
  :func:`jaxconcepts.evaluation.reconstruction_accuracy`), test MSE and relative test MSE
  (MSE / mean squared activation), and the same with the *closed* gates (< threshold) set to 0,
  which is what a sparse recipe claims: the open concepts suffice;
- the final objective and the number of solver steps.

``fit_c2mf`` is called with ``alpha=`` and whatever else is in ``fit_kwargs``, so the sweep
follows the solver's signature (e.g. a scale-free α) without changes here. The page and table
of the rows are the report layer's (:func:`jaxconcepts.report.alpha_sweep_markdown`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["alpha_sweep", "sweep_fitted_split", "validation_split"]


def _recon_rows(model, U, y, gates):
    return (jnp.asarray(U) * gates[jnp.asarray(y)]) @ model.W


def alpha_sweep(
    A_train,
    y_train,
    A_test_img,
    y_test_img,
    h: Callable,
    *,
    alphas: Sequence[float],
    k: int,
    key: jax.Array,
    n_classes: int,
    gate_threshold: float,
    label_test=None,
    pred_test=None,
    fit: Callable | None = None,
    fit_kwargs: Mapping | None = None,
) -> list[dict]:
    """Fit C2MF for every α and measure sparsity and reconstruction (module docstring).

    Args:
        A_train: ``(n, c)`` train rows; y_train: ``(n,)`` their fitted class in ``[0, n_classes)``.
        A_test_img: ``(B, p, c)`` test images as row blocks; y_test_img: ``(B,)`` their class.
        h: the head on one image's rows, ``(p, c) -> (K,)`` logits.
        alphas: the α values (each >= 0), in the units ``fit`` expects.
        k: dictionary size; key: PRNG key (the same for every α, so fits differ only by α).
        n_classes: fitted classes Y (the accuracies are means over them).
        gate_threshold: a gate is *open* when σ(λ) >= this.
        label_test, pred_test: ``(B,)`` ground truth / the model's prediction as head outputs
            (label -1: unknown, or a folder class that is not a head output; defaults:
            ``y_test_img``, i.e. the classes fitted are the head's classes).
        fit: the solver (default :func:`jaxconcepts.concepts.fit_c2mf`).
        fit_kwargs: extra keyword arguments for ``fit`` (max_steps, tol, solver, ...).

    Returns:
        one dict per α (JSON-ready floats), in the order given.
    """
    from jaxconcepts.evaluation.c2mf._metrics import reconstruction_accuracy

    if fit is None:
        from jaxconcepts.concepts import fit_c2mf as fit
    alphas = [float(a) for a in alphas]
    if not alphas or any(not np.isfinite(a) or a < 0 for a in alphas):
        raise ValueError(f"alphas={alphas} should be a non-empty list of finite values >= 0")
    if not 0.0 < gate_threshold < 1.0:
        raise ValueError(f"gate_threshold={gate_threshold} should be in (0, 1)")
    A_img = np.asarray(A_test_img, np.float32)
    if A_img.ndim != 3:
        raise ValueError(f"A_test_img should have shape (B, p, c), got {A_img.shape}")
    B, p, c = A_img.shape
    y_img = np.asarray(y_test_img)
    if y_img.shape != (B,):
        raise ValueError(f"y_test_img should have shape (B,)=({B},), got {y_img.shape}")
    label = y_img if label_test is None else np.asarray(label_test)
    pred = y_img if pred_test is None else np.asarray(pred_test)
    A_te = A_img.reshape(B * p, c)
    y_te = np.repeat(y_img, p)
    power = float(np.mean(A_te.astype(np.float64) ** 2))
    out = []
    for a in alphas:
        model = fit(A_train, y_train, k, key=key, alpha=a, n_classes=n_classes,
                    **dict(fit_kwargs or {}))
        gates = jnp.asarray(model.gates)
        g = np.asarray(gates)
        open_ = g >= gate_threshold
        U = model.transform(A_te, y_te)
        row = {
            "alpha": a,
            "frac_open": float(open_.mean()),
            "concepts_per_class": float(open_.sum(1).mean()),
            "mean_gate": float(g.mean()),
            "k": int(k),
        }
        for name, gt in (("", gates), ("_open_only", jnp.where(gates >= gate_threshold, gates,
                                                                 0.0))):
            A_hat = np.asarray(_recon_rows(model, U, y_te, gt))
            mse = float(np.mean((A_hat.astype(np.float64) - A_te) ** 2))
            row[f"mse{name}"] = mse
            row[f"rel_mse{name}"] = mse / power if power > 0 else float("nan")
            shim = _Fixed(A_hat)
            r = reconstruction_accuracy(shim, A_img, y_img, label, pred, h, n_classes=n_classes,
                                        U=np.zeros((B * p, 1), np.float32))
            row[f"acc_pred{name}"] = r["acc_pred_mean"]
            row[f"acc_label{name}"] = r["acc_label_mean"]
        hist = np.asarray(getattr(model, "loss_history", []))
        row["objective"] = float(hist[-1]) if hist.size else float("nan")
        row["n_steps"] = int(getattr(model, "n_steps", -1))
        out.append(row)
    return out


class _Fixed:
    """A stand-in model whose reconstruction is given (so accuracy is computed on it)."""

    def __init__(self, A_hat):
        self._A_hat = jnp.asarray(A_hat)

    def reconstruct(self, U, y):
        return self._A_hat


def _head_labels(data):
    """The images' labels as head outputs (-1 where unknown or a folder class is not one)."""
    return data.label if data.head_label is None else data.head_label


def sweep_fitted_split(fits, head, *, alphas: Sequence[float], k: int,
                       gate_threshold: float, seed: int = 0) -> list[dict]:
    """:func:`alpha_sweep` on the split and with the solver settings of the ``c2mf`` stage's fits.

    Args:
        fits: :class:`jaxconcepts.runners.C2MFFits` (the view, the fit settings and
            the key of the stage's run); every α is fitted with the suite's ``fit_method``, so
            the sweep uses the same solver as the evaluated models.
        head: the store's GAP + linear head (``weight`` (K, C), ``bias`` (K,)).
        alphas, gate_threshold: as in :func:`alpha_sweep`; k: capped at the data's C2MF cap.
        seed: of the validation split (:func:`validation_split`): every α is fitted on the other
            train images and scored on it, never on the test images.

    Returns:
        :func:`alpha_sweep`'s rows with NaN (undefined) values as None.
    """
    from functools import partial

    from jaxconcepts.evaluation.c2mf._fit_evaluate import fit_method

    view = fits.view
    fit_pos, val_pos, y_fit, y_val = validation_split(view.split.train, view.y_img_train,
                                                      seed=seed)
    if not val_pos.size:
        raise ValueError("the α sweep needs a validation split of the train images, and no "
                         "class has 2 train images; turn it off (c2mf.alpha_sweep: [])")
    A_tr = view.rows(fit_pos).reshape(-1, view.c)
    y_tr = np.repeat(y_fit, view.p)
    Wh, bh = jnp.asarray(head.weight), jnp.asarray(head.bias)
    kk = min(int(k), int(fits.caps.get("c2mf", k)))
    kwargs = {n: v for n, v in fits.fit_kwargs.items() if n != "alpha"}
    rows = alpha_sweep(A_tr, y_tr, view.rows(val_pos), y_val,
                       lambda r: r.mean(0) @ Wh.T + bh, alphas=alphas, k=kk, key=fits.key,
                       n_classes=view.n_classes, gate_threshold=gate_threshold,
                       label_test=_head_labels(view.data)[val_pos],
                       pred_test=view.data.pred[val_pos], fit=partial(fit_method, "c2mf"),
                       fit_kwargs=kwargs)
    for r in rows:
        r["n_fit_images"], r["n_validation_images"] = int(fit_pos.size), int(val_pos.size)
    # JSON-ready: undefined values (e.g. label accuracy without labels) become None
    return [{n: (None if isinstance(v, float) and not np.isfinite(v) else v)
             for n, v in r.items()} for r in rows]


def validation_split(train_pos, y_train, *, seed: int, fraction: float = 0.25):
    """The α sweep's split of the *train* images (the test images are never seen): per class,
    ``max(1, round(fraction · n))`` validation images when the class has at least 2, the rest to
    fit on. Returns ``(fit positions, validation positions, their classes, their classes)``,
    positions sorted (the order :meth:`SplitRowsView.rows` reads them in)."""
    train_pos, y_train = np.asarray(train_pos), np.asarray(y_train)
    rng = np.random.default_rng([int(seed), 7])
    val = np.zeros(train_pos.size, bool)
    for c in np.unique(y_train):
        idx = np.flatnonzero(y_train == c)
        if idx.size >= 2:
            n_val = min(max(1, int(round(fraction * idx.size))), idx.size - 1)
            val[rng.permutation(idx)[:n_val]] = True
    order = np.argsort(train_pos, kind="stable")
    fit, ok = order[~val[order]], order[val[order]]
    return train_pos[fit], train_pos[ok], y_train[fit], y_train[ok]
