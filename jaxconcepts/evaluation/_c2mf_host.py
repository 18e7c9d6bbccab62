"""The C2MF suite through any h: the JAX closed form for GAP + linear heads, the host (torch) h
otherwise, and how far the Grad-CAM and IG rankings of the concepts differ.

For a non-linear h (the rest of the network after an intermediate block, a
:class:`~jaxconcepts.importance.HostGradHead`) the dictionary stays fixed: an image's codes
``U`` ``(p, k)`` give its activation rows ``A = recon(U, cls)`` (``U diag(σ(λ)) W`` for C2MF,
``U W_cls`` for CRAFT, ``U W_cls + μ_cls`` for PCA), the rows become the map ``(c, h, w)`` and h
maps it to the class logits. Per batch of images:

1. every point of the gradient paths (``U`` for Grad-CAM, ``s·U`` for IG's midpoints) is
   reconstructed in JAX and sent to the host, which returns ``∂z_t/∂A`` by autograd;
2. the chain rule through the fixed, affine ``recon`` (``jax.vjp``) gives ``∂z_t/∂U``, and
   :func:`~jaxconcepts.importance.importance_from_grads` the importances (the same formula as
   the JAX path);
3. the insertion/deletion steps of every ranking are reconstructed in JAX and h scores them on
   the host in chunks of ``head.batch_size`` maps.

With a GAP + linear head every function here runs the closed form of
:mod:`jaxconcepts.evaluation._c2mf_eval` instead, so existing results are unchanged.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.evaluation._c2mf_eval import (
    InsertionDeletion,
    _auc,
    _recon,
    insertion_masks,
    model_insertion_deletion,
    reconstructed_predictions,
)
from jaxconcepts.importance._gradients import HostGradHead, ig_alphas, importance_from_grads

__all__ = ["head_insertion_deletion", "head_predictions", "head_num_classes",
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


def head_num_classes(head) -> int:
    """K, the number of logits of a GAP + linear head record or a :class:`HostGradHead`."""
    if isinstance(head, HostGradHead):
        return int(head.num_classes)
    return int(np.shape(head.weight)[0])


def _host_logits(head: HostGradHead, maps: np.ndarray) -> np.ndarray:
    bs = int(head.batch_size)
    out = [np.asarray(head.fn(maps[s:s + bs]), np.float32) for s in range(0, len(maps), bs)]
    z = np.concatenate(out) if out else np.zeros((0, head.num_classes), np.float32)
    if z.shape != (len(maps), head.num_classes):
        raise ValueError(f"head.fn should map {len(maps)} maps to ({len(maps)}, "
                         f"{head.num_classes}) logits, got {z.shape}")
    return z


def _host_grads(head: HostGradHead, maps: np.ndarray, target: np.ndarray) -> np.ndarray:
    bs = int(head.batch_size)
    g = np.concatenate([np.asarray(head.grad(maps[s:s + bs], target[s:s + bs]), np.float32)
                        for s in range(0, len(maps), bs)])
    if g.shape != maps.shape:
        raise ValueError(f"head.grad should return the maps' shape {maps.shape}, got {g.shape}")
    return g


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


@eqx.filter_jit
def _path_rows(model, U, cls, scales):
    """``(B, S, p, c)``: ``recon(s·U_b, cls_b)`` for every scale s."""
    recon = _recon(model)
    return jax.vmap(lambda u, c: jax.vmap(lambda a: recon(a * u, c))(scales))(U, cls)


@eqx.filter_jit
def _code_grads(model, U, cls, gA):
    """``(B, S, p, k)`` ∂z/∂U from ``gA`` ``(B, S, p, c)`` ∂z/∂A: the vjp of the affine recon."""
    recon = _recon(model)

    def one(u, c, g):
        _, vjp = jax.vjp(lambda v: recon(v, c), u)  # affine in v: the same map at every point
        return jax.vmap(lambda gi: vjp(gi)[0])(g)

    return jax.vmap(one)(U, cls, gA)


@eqx.filter_jit
def _importances(U, gU):
    gc = jax.vmap(lambda u, g: importance_from_grads(u, g[0], method="gradcam"))(U, gU)
    ig = jax.vmap(lambda u, g: importance_from_grads(u, g[1:], method="ig"))(U, gU)
    return gc, ig


@eqx.filter_jit
def _curve_rows(model, U, cls, imps):
    """``(B, R, 2, k + 1, p, c)``: rows at every insertion (0) / deletion (1) step of R rankings
    ``imps`` ``(B, R, k)``."""
    recon = _recon(model)

    def one(u, c, imp_r):
        def ranking(imp):
            keep = insertion_masks(imp)
            masks = jnp.stack([keep, ~keep]).astype(u.dtype)  # (2, k+1, k)
            return jax.vmap(jax.vmap(lambda m: recon(u * m, c)))(masks)

        return jax.vmap(ranking)(imp_r)

    return jax.vmap(one)(U, cls, imps)


def _host_insertion_deletion(model, head: HostGradHead, U, cls, target, hw, *, methods,
                             n_steps: int) -> tuple:
    U = jnp.asarray(U, jnp.float32)
    B, p, k = U.shape
    cls = jnp.asarray(cls, jnp.int32)
    target = np.asarray(target, np.int64)
    scales = jnp.concatenate([jnp.ones(1), ig_alphas(int(n_steps))])  # Grad-CAM at U, IG path
    A_path = np.asarray(_path_rows(model, U, cls, scales))  # (B, S+1, p, c)
    S1, c = A_path.shape[1], A_path.shape[-1]
    g = _host_grads(head, rows_to_maps(A_path.reshape(B * S1, p, c), hw), np.repeat(target, S1))
    gU = _code_grads(model, U, cls, jnp.asarray(maps_to_rows(g).reshape(B, S1, p, c)))
    gc, ig = _importances(U, gU)
    imps = {"gradcam": gc, "ig": ig}
    sel = jnp.stack([imps[m] for m in methods], axis=1)  # (B, R, k)
    rows = np.asarray(_curve_rows(model, U, cls, sel))
    R = len(methods)
    logp = _log_softmax(_host_logits(head, rows_to_maps(rows.reshape(-1, p, c), hw)))
    logp = logp.reshape(B, R * 2 * (k + 1), -1)
    prob = np.exp(np.take_along_axis(logp, target[:, None, None], axis=2))
    prob = jnp.asarray(prob.reshape(B, R, 2, k + 1), jnp.float32)
    return tuple(InsertionDeletion(prob[:, r, 0], prob[:, r, 1], _auc(prob[:, r, 0]),
                                   _auc(prob[:, r, 1]), imps[m]) for r, m in enumerate(methods))


def head_insertion_deletion(model, head, U, cls, target, *, methods: tuple, n_steps: int,
                            hw=None) -> tuple:
    """:func:`~jaxconcepts.evaluation.model_insertion_deletion` through any head.

    Args:
        model: a ``ConceptDecomposition``; head: a GAP + linear head record (closed form in JAX,
            one compiled program) or a :class:`HostGradHead` (gradients and scores on the host).
        U: ``(B, p, k)`` codes; cls: ``(B,)`` fitted class; target: ``(B,)`` explained logit.
        methods: rankings among ``"gradcam"``, ``"ig"``; n_steps: IG steps.
        hw: ``(h, w)`` of the activation map, ``h·w = p`` (needed by a host head).

    Returns:
        one :class:`InsertionDeletion` per ranking.
    """
    if not isinstance(head, HostGradHead):
        return model_insertion_deletion(model, head, jnp.asarray(U), jnp.asarray(cls, jnp.int32),
                                        jnp.asarray(target, jnp.int32), methods=tuple(methods),
                                        n_steps=int(n_steps))
    if hw is None:
        raise ValueError("hw=None: a host head needs the map's (h, w) to rebuild maps from rows")
    return _host_insertion_deletion(model, head, U, cls, target, hw, methods=tuple(methods),
                                    n_steps=n_steps)


def head_predictions(model, head, U, y_images, p: int, c: int, *, hw=None) -> np.ndarray:
    """``(B,)`` h's class on each image's reconstruction ``reconstruct(U, y)`` (any head).

    Args:
        U: ``(B·p, k)`` codes of B images' rows; y_images: ``(B,)`` fitted class per image.
    """
    if not isinstance(head, HostGradHead):
        return reconstructed_predictions(model, head, U, y_images, p, c)
    if hw is None:
        raise ValueError("hw=None: a host head needs the map's (h, w) to rebuild maps from rows")
    y_rows = jnp.repeat(jnp.asarray(y_images, jnp.int32), p)
    A_hat = np.asarray(model.reconstruct(jnp.asarray(U), y_rows)).reshape(-1, p, c)
    return _host_logits(head, rows_to_maps(A_hat, hw)).argmax(-1)


def _corr(a, b):
    """Spearman ρ and Kendall τ of two importance vectors (NaN when either is constant)."""
    from scipy.stats import kendalltau, spearmanr

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    return float(spearmanr(a, b).statistic), float(kendalltau(a, b).statistic)


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
    rt = np.array([_corr(u, v) for u, v in zip(a, b)]).reshape(-1, 2)
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
