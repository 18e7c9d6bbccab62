"""The C2MF suite through any h: the JAX closed form for GAP + linear heads, the host (torch) h
otherwise, and how far the Grad-CAM and IG rankings of the concepts differ.

For a non-linear h (the rest of the network after an intermediate block, a
:class:`~jaxconcepts.heads.HostHead` with its ``grad``) the dictionary stays fixed: an image's codes
``U`` ``(p, k)`` give its activation rows ``A = recon(U, cls)`` (``U diag(σ(λ)) W`` for C2MF,
``U W_cls`` for CRAFT, ``U W_cls + μ_cls`` for PCA), the rows become the map ``(c, h, w)`` and h
maps it to the class logits. Per batch of images:

1. ``recon`` is affine in the codes, ``U @ M_y + b_y`` (:func:`affine_recon`, read off the
   model once per batch and checked), so every point of the gradient paths (``U`` for Grad-CAM,
   ``s·U`` for IG's midpoints) is reconstructed in numpy and sent to the host, which returns
   ``∂z_t/∂A`` by autograd;
2. the chain rule through the fixed dictionary, ``∂z_t/∂U = ∂z_t/∂A · M_yᵀ``, gives the code
   gradients and :func:`~jaxconcepts.importance.importance_from_grads` the importances (the
   same formula as the JAX path);
3. the insertion/deletion steps of every ranking are reconstructed the same way and h scores
   them on the host in chunks of ``head.batch_size`` maps.

With a GAP + linear head every function here runs the closed form of
:mod:`jaxconcepts.evaluation.c2mf._metrics` instead, so existing results are unchanged.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxconcepts.evaluation.c2mf._metrics import (
    InsertionDeletion,
    _auc,
    insertion_masks,
    model_insertion_deletion,
    reconstructed_predictions,
)
from jaxconcepts.heads import HostHead
from jaxconcepts.importance._gradients import ig_alphas, importance_from_grads

__all__ = ["affine_recon", "head_insertion_deletion", "head_predictions",
           "ranking_agreement", "rows_to_maps", "maps_to_rows"]


def rows_to_maps(A, hw) -> np.ndarray:
    """``(n, p, c)`` rows (the store's order: position ``i·w + j``) -> ``(n, c, h, w)`` maps."""
    A = np.asarray(A, np.float32)
    n, p, c = A.shape
    if p != hw[0] * hw[1]:
        raise ValueError(f"rows have p={p} positions, the map is {tuple(hw)}")
    return np.ascontiguousarray(A.transpose(0, 2, 1).reshape(n, c, *hw))


def maps_to_rows(M) -> np.ndarray:
    """``(n, c, h, w)`` -> ``(n, h·w, c)``: the inverse of :func:`rows_to_maps`."""
    M = np.asarray(M, np.float32)
    return np.ascontiguousarray(M.reshape(M.shape[0], M.shape[1], -1).transpose(0, 2, 1))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def affine_recon(model, n_classes: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(M (Y, k, c), b (Y, c))`` with ``reconstruct(U, y) = U @ M[y] + b[y]``.

    Every decomposition here reconstructs affinely from its codes (W is fixed: C2MF
    ``U diag(σ(λ_y)) W``, CRAFT ``U W_y``, PCA ``U W_y + μ_y``), so the gradient paths and the
    curves need only these matrices, in numpy: no program is compiled per model type.

    Raises:
        ValueError: ``model.reconstruct`` is not affine in the codes (checked on random codes).
    """
    Y = int(n_classes)
    y_eye = jnp.repeat(jnp.arange(Y, dtype=jnp.int32), k)
    b = np.asarray(model.reconstruct(jnp.zeros((Y, k), jnp.float32),
                                     jnp.arange(Y, dtype=jnp.int32)), np.float64)
    M = np.asarray(model.reconstruct(jnp.tile(jnp.eye(k, dtype=jnp.float32), (Y, 1)), y_eye),
                   np.float64).reshape(Y, k, -1) - b[:, None, :]
    U = np.random.default_rng(0).random((Y, k)).astype(np.float32)
    got = np.asarray(model.reconstruct(jnp.asarray(U), jnp.arange(Y, dtype=jnp.int32)))
    want = np.einsum("yk,ykc->yc", U, M) + b
    scale = 1e-4 * (1.0 + np.abs(want).max())
    if not np.abs(got - want).max() <= scale:
        raise ValueError(f"{type(model).__name__}.reconstruct is not affine in the codes "
                         f"(off by {np.abs(got - want).max():.3g}); the host path needs it")
    return M.astype(np.float32), b.astype(np.float32)


def _host_insertion_deletion(model, head: HostHead, U, cls, target, hw, *, methods,
                             n_steps: int, n_classes: int) -> tuple:
    U = np.asarray(U, np.float32)
    B, p, k = U.shape
    cls, target = np.asarray(cls, np.int64), np.asarray(target, np.int64)
    M, b = affine_recon(model, n_classes, k)
    Mb, bb = M[cls], b[cls][:, None, :]  # (B, k, c), (B, 1, c)
    c = M.shape[-1]
    scales = np.concatenate([[1.0], np.asarray(ig_alphas(int(n_steps)))]).astype(np.float32)
    S1 = scales.size  # Grad-CAM at U, then IG's path
    A_path = np.einsum("s,bpk,bkc->bspc", scales, U, Mb) + bb[:, None]
    g = head.grads(rows_to_maps(A_path.reshape(B * S1, p, c), hw), np.repeat(target, S1))
    gU = np.einsum("bspc,bkc->bspk", maps_to_rows(g).reshape(B, S1, p, c), Mb)
    # numpy throughout (no JAX program to compile per shape or model type)
    imps = {"gradcam": np.stack([importance_from_grads(u, g[0], method="gradcam")
                                 for u, g in zip(U, gU)]),
            "ig": np.stack([importance_from_grads(u, g[1:], method="ig") for u, g in zip(U, gU)])}
    R = len(methods)
    keep = np.stack([[insertion_masks(imps[m][i]) for m in methods] for i in range(B)])
    masks = np.stack([keep, ~keep], axis=2).astype(np.float32)  # (B, R, 2, k+1, k)
    rows = np.einsum("brisk,bpk,bkc->brispc", masks, U, Mb) + bb[:, None, None, None]
    logp = _log_softmax(head.logits(rows_to_maps(rows.reshape(-1, p, c), hw)))
    logp = logp.reshape(B, R * 2 * (k + 1), -1)
    prob = np.exp(np.take_along_axis(logp, target[:, None, None], axis=2))
    prob = prob.reshape(B, R, 2, k + 1).astype(np.float32)
    return tuple(InsertionDeletion(prob[:, r, 0], prob[:, r, 1], _auc(prob[:, r, 0]),
                                   _auc(prob[:, r, 1]), imps[m]) for r, m in enumerate(methods))


def head_insertion_deletion(model, head, U, cls, target, *, methods: tuple, n_steps: int,
                            hw=None, n_classes: int | None = None) -> tuple:
    """:func:`~jaxconcepts.evaluation.model_insertion_deletion` through any head.

    Args:
        model: a ``ConceptDecomposition``; head: a GAP + linear head record (closed form in JAX,
            one compiled program) or a :class:`~jaxconcepts.heads.HostHead` with ``grad``
            (gradients and scores on the host).
        U: ``(B, p, k)`` codes; cls: ``(B,)`` fitted class; target: ``(B,)`` explained logit.
        methods: rankings among ``"gradcam"``, ``"ig"``; n_steps: IG steps.
        hw: ``(h, w)`` of the activation map, ``h·w = p``; n_classes: the model's number of
            fitted classes (both needed by a host head).

    Returns:
        one :class:`InsertionDeletion` per ranking.
    """
    if not isinstance(head, HostHead):
        return model_insertion_deletion(model, head, jnp.asarray(U), jnp.asarray(cls, jnp.int32),
                                        jnp.asarray(target, jnp.int32), methods=tuple(methods),
                                        n_steps=int(n_steps))
    if hw is None or n_classes is None:
        raise ValueError(f"hw={hw!r}, n_classes={n_classes!r}: a host head needs the map's "
                         "(h, w) and the model's number of fitted classes")
    return _host_insertion_deletion(model, head, U, cls, target, hw, methods=tuple(methods),
                                    n_steps=n_steps, n_classes=n_classes)


def head_predictions(model, head, U, y_images, p: int, c: int, *, hw=None) -> np.ndarray:
    """``(B,)`` h's class on each image's reconstruction ``reconstruct(U, y)`` (any head).

    Args:
        U: ``(B·p, k)`` codes of B images' rows; y_images: ``(B,)`` fitted class per image.
    """
    if not isinstance(head, HostHead):
        return reconstructed_predictions(model, head, U, y_images, p, c)
    if hw is None:
        raise ValueError("hw=None: a host head needs the map's (h, w) to rebuild maps from rows")
    y_rows = jnp.repeat(jnp.asarray(y_images, jnp.int32), p)
    A_hat = np.asarray(model.reconstruct(jnp.asarray(U), y_rows)).reshape(-1, p, c)
    return head.logits(rows_to_maps(A_hat, hw)).argmax(-1)


def _corr_rows(a, b) -> np.ndarray:
    """``(n, 2)``: Spearman ρ and Kendall τ-b (scipy's ``spearmanr`` / ``kendalltau``, ties
    included) of each row pair of ``a``, ``b`` ``(n, k)``, vectorised over rows; NaN where either
    row is constant."""
    from scipy.stats import rankdata

    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    ok = (np.ptp(a, axis=1) > 0) & (np.ptp(b, axis=1) > 0)
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)  # average ranks: Spearman with ties
    ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(1) / np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
        sa = np.sign(a[:, :, None] - a[:, None, :])  # (n, k, k): each pair's order, 0 = tie
        sb = np.sign(b[:, :, None] - b[:, None, :])
        k = a.shape[1]
        pairs = k * (k - 1)  # ordered pairs: every count below is doubled alike
        tau = (sa * sb).sum((1, 2)) / np.sqrt(
            (pairs - (sa == 0).sum((1, 2)) + k) * (pairs - (sb == 0).sum((1, 2)) + k))
    return np.where(ok[:, None], np.stack([rho, tau], axis=1), np.nan)


def _corr(a, b):
    """Spearman ρ and Kendall τ-b of two importance vectors (NaN when either is constant)."""
    rho, tau = _corr_rows(a, b)[0]
    return float(rho), float(tau)


def _stats(x):
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return (float(x.mean()), float(x.std())) if x.size else (None, None)


def ranking_agreement(imp_gradcam, imp_ig, y) -> dict:
    """How far two concept rankings differ, per test image and per class.

    Args:
        imp_gradcam, imp_ig: ``(n, k)`` importances of n images; y: ``(n,)`` fitted class.

    Returns:
        ``per_image``: Spearman ρ and Kendall τ (mean, std over images whose importances are not
        constant), the fraction of images whose top concept differs; ``per_class``: the rankings
        of the class-mean importances compared the same way (ρ, τ, each ranking's top concept);
        ``top_differs_classes``: the fraction of classes whose top concept differs.
    """
    a, b, y = np.asarray(imp_gradcam), np.asarray(imp_ig), np.asarray(y)
    if a.shape != b.shape or a.ndim != 2 or y.shape != a.shape[:1]:
        raise ValueError(f"importances {a.shape} / {b.shape} should be (n, k) with y (n,), "
                         f"got y {y.shape}")
    rt = _corr_rows(a, b) if len(a) else np.zeros((0, 2))
    (rho, rho_sd), (tau, tau_sd) = _stats(rt[:, 0]), _stats(rt[:, 1])
    out = {"per_image": {"spearman_mean": rho, "spearman_std": rho_sd, "kendall_mean": tau,
                         "kendall_std": tau_sd, "n_images": int(len(a)),
                         "n_constant": int(np.isnan(rt[:, 0]).sum()),
                         "top_differs": float(np.mean(a.argmax(1) != b.argmax(1)))
                         if len(a) else None},
           "per_class": {}}
    differs = []
    for cl in np.unique(y):
        ma, mb = a[y == cl].mean(0), b[y == cl].mean(0)
        rho_c, tau_c = _corr(ma, mb)
        top = (int(ma.argmax()), int(mb.argmax()))
        differs.append(top[0] != top[1])
        out["per_class"][str(int(cl))] = {
            "spearman": None if np.isnan(rho_c) else rho_c,
            "kendall": None if np.isnan(tau_c) else tau_c,
            "top_gradcam": top[0], "top_ig": top[1], "n_images": int((y == cl).sum())}
    out["top_differs_classes"] = float(np.mean(differs)) if differs else None
    return out
