"""The C2MF suite through a torch h: equal to the JAX closed form for GAP + linear, Grad-CAM and IG
identical for a linear h and different for a non-linear one (a randomly initialised timm model)."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxconcepts.concepts._c2mf import C2MF
from jaxconcepts.concepts._pca_baseline import fit_pca_baseline
from jaxconcepts.evaluation.c2mf._host_head import (
    affine_recon,
    head_insertion_deletion,
    head_predictions,
    maps_to_rows,
    ranking_agreement,
    rows_to_maps,
)
from jaxconcepts.features import host_fns
from jaxconcepts.heads import HostHead
from tests.planted import K, Y, planted

HW = (2, 2)
P = HW[0] * HW[1]
K_OUT = 4


class _Head:
    def __init__(self, weight, bias):
        self.weight, self.bias = jnp.asarray(weight), jnp.asarray(bias)


def _linear_heads(C, seed=0):
    """The same GAP + linear h as a JAX record and as a torch module behind a HostHead (with its
    grad)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K_OUT, C)).astype(np.float32)
    b = rng.normal(size=K_OUT).astype(np.float32)
    mod = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(C, K_OUT))
    with torch.no_grad():
        mod[2].weight.copy_(torch.from_numpy(w))
        mod[2].bias.copy_(torch.from_numpy(b))
    return _Head(w, b), HostHead(*host_fns(mod), num_classes=K_OUT, batch_size=7)


def _c2mf(W, seed=0):
    logits = jnp.asarray(np.random.default_rng(seed).normal(size=(Y, W.shape[0])), jnp.float32)
    return C2MF(jnp.asarray(W), logits, 1.0, np.zeros(0), 0, True)


def _batch(U, B, k, seed=1):
    rng = np.random.default_rng(seed)
    cls = np.arange(B) % Y
    return (np.asarray(U[: B * P], np.float32).reshape(B, P, k), cls,
            rng.integers(0, K_OUT, B))


def test_rows_maps_round_trip_in_the_store_order():
    A = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3)  # (n, p, c), p = 2 x 3
    M = rows_to_maps(A, (2, 3))
    assert M.shape == (2, 3, 2, 3) and M[1, 2, 1, 0] == A[1, 3, 2]  # position i·w + j
    np.testing.assert_array_equal(maps_to_rows(M), A)
    with pytest.raises(ValueError, match="p=6"):
        rows_to_maps(A, (2, 2))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["c2mf", "pca"])
def test_torch_gap_linear_h_matches_the_jax_closed_form(method):
    A, y, U, W = planted(0, noise=0.05)
    if method == "c2mf":
        model, k = _c2mf(W), K
    else:  # affine: reconstructs around each class mean
        model = fit_pca_baseline(A, y, 3)
        k = 3
        U = np.asarray(model.transform(jnp.asarray(A), jnp.asarray(y)))
    rec, host = _linear_heads(W.shape[1])
    B = 6
    Ub, cls, target = _batch(U, B, k)
    ref = head_insertion_deletion(model, rec, Ub, cls, target, methods=("gradcam", "ig"),
                                  n_steps=8)
    got = head_insertion_deletion(model, host, Ub, cls, target, methods=("gradcam", "ig"),
                                  n_steps=8, hw=HW, n_classes=Y)
    for r, g in zip(ref, got):
        for f in ("insertion", "deletion", "insertion_auc", "deletion_auc", "importance"):
            np.testing.assert_allclose(np.asarray(getattr(g, f)), np.asarray(getattr(r, f)),
                                       rtol=1e-4, atol=1e-5, err_msg=f)
    U_rows = Ub.reshape(B * P, k)
    np.testing.assert_array_equal(head_predictions(model, host, U_rows, cls, P, W.shape[1], hw=HW),
                                  head_predictions(model, rec, U_rows, cls, P, W.shape[1]))
    with pytest.raises(ValueError, match="hw=None"):
        head_insertion_deletion(model, host, Ub, cls, target, methods=("ig",), n_steps=8)


def test_a_host_head_without_grad_scores_but_cannot_rank():
    """Predictions need only ``fn``; the Grad-CAM / IG rankings need ``grad``: a clear error."""
    _, _, U, W = planted(0)
    rec, host = _linear_heads(W.shape[1])
    no_grad = HostHead(host.fn, num_classes=K_OUT, batch_size=7)
    model = _c2mf(W)
    Ub, cls, target = _batch(U, 4, K)
    U_rows = Ub.reshape(4 * P, K)
    np.testing.assert_array_equal(
        head_predictions(model, no_grad, U_rows, cls, P, W.shape[1], hw=HW),
        head_predictions(model, rec, U_rows, cls, P, W.shape[1]))
    with pytest.raises(ValueError, match="no grad"):
        head_insertion_deletion(model, no_grad, Ub, cls, target, methods=("gradcam",),
                                n_steps=4, hw=HW, n_classes=Y)


def test_gradcam_and_ig_agree_for_a_linear_h():
    _, _, U, W = planted(1)
    rec, _ = _linear_heads(W.shape[1], seed=1)
    Ub, cls, target = _batch(U, 12, K)
    gc, ig = head_insertion_deletion(_c2mf(W), rec, Ub, cls, target,
                                     methods=("gradcam", "ig"), n_steps=8)
    # the logit is linear in the codes: IG_j = p · Grad-CAM_j
    np.testing.assert_allclose(np.asarray(ig.importance), P * np.asarray(gc.importance),
                               rtol=1e-4, atol=1e-6)
    a = ranking_agreement(np.asarray(gc.importance), np.asarray(ig.importance), cls)
    assert a["per_image"]["spearman_mean"] == pytest.approx(1.0)
    assert a["per_image"]["top_differs"] == 0.0 and a["top_differs_classes"] == 0.0


@pytest.fixture(scope="module")
def nonlinear_h():
    """h = layer4 + GAP + fc of a randomly initialised resnet10t cut at layer3 (no download),
    with random BatchNorm statistics and shifts, as after training.

    Freshly initialised, the network is positively homogeneous along IG's ray (no BN shift, the
    residual branch's last BN zeroed): h(sA) − h(0) = s·(h(A) − h(0)) while no ReLU flips, so IG
    equals the gradient times the codes and the two rankings barely differ. Trained BN shifts
    break that, as in the planted model.
    """
    from jaxconcepts.features import load_model

    lm = load_model("resnet10t", weights="random", image_size=32, layer="layer3", seed=5,
                    num_classes=K_OUT, channels=[8, 16, 32, 32], stem_width=8, output_stride=8)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in lm.model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.5 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return lm, HostHead(*host_fns(lm.rest), num_classes=K_OUT, batch_size=64)


@pytest.mark.slow
def test_gradcam_and_ig_differ_for_a_nonlinear_torch_h(nonlinear_h):
    lm, head = nonlinear_h
    hw = (4, 4)  # layer3 of a 32 px input at output stride 8
    p = hw[0] * hw[1]
    rng = np.random.default_rng(3)
    C = 32
    W = np.abs(rng.normal(size=(K, C))).astype(np.float32)
    model = _c2mf(W, seed=3)
    B = 12
    Ub = rng.uniform(0, 2, size=(B, p, K)).astype(np.float32)
    cls, target = np.arange(B) % Y, rng.integers(0, K_OUT, B)
    gc, ig = head_insertion_deletion(model, head, Ub, cls, target, methods=("gradcam", "ig"),
                                     n_steps=64, hw=hw, n_classes=Y)
    # IG's completeness through torch autograd and the chain rule: Σ_j IG_j = z_t(U) − z_t(0)
    M, b = affine_recon(model, Y, K)
    A = np.einsum("bpk,bkc->bpc", Ub, M[cls]) + b[cls][:, None]
    zs = head.fn(rows_to_maps(A, hw))
    z = zs[np.arange(B), target]
    z0 = head.fn(rows_to_maps(np.broadcast_to(b[cls][:, None], A.shape), hw))[np.arange(B),
                                                                              target]
    np.testing.assert_allclose(np.asarray(ig.importance).sum(1), z - z0, rtol=0.03,
                               atol=0.03 * np.abs(z - z0).max())
    gci, igi = np.asarray(gc.importance), np.asarray(ig.importance)
    a = ranking_agreement(gci, igi, cls)
    assert not np.allclose(igi, p * gci, rtol=0.05)  # not IG = p · Grad-CAM, as for linear h
    assert a["per_image"]["spearman_mean"] < 0.99  # the orders differ on some images
    # the curves are scored by h: insertion ends at the full reconstruction's probability
    p_full = np.exp(z - np.log(np.exp(zs).sum(1)))
    np.testing.assert_allclose(np.asarray(gc.insertion)[:, -1], p_full, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(ig.deletion)[:, 0], p_full, rtol=1e-4)


def test_ranking_agreement_hand_cases():
    a = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    out = ranking_agreement(a, a[:, ::-1], np.array([0, 0, 1]))
    im = out["per_image"]
    assert im["spearman_mean"] == pytest.approx(-1.0) and im["kendall_mean"] == pytest.approx(-1)
    assert im["n_constant"] == 1 and im["top_differs"] == pytest.approx(2 / 3)
    assert out["per_class"]["0"]["spearman"] is None  # class mean (2, 2, 2) is constant
    assert out["per_class"]["1"]["top_gradcam"] == 0
    with pytest.raises(ValueError, match="should be"):
        ranking_agreement(a, a[:2], np.zeros(3))


def test_affine_recon_refuses_a_non_affine_model():
    class Square:
        def reconstruct(self, U, y):
            return (U**2) @ jnp.ones((2, 3))

    with pytest.raises(ValueError, match="not affine"):
        affine_recon(Square(), 2, 2)


def test_rank_correlations_equal_scipys_with_ties():
    """The vectorised Spearman ρ / Kendall τ-b of ``ranking_agreement`` are scipy's, ties and
    constant rows (NaN) included."""
    from scipy.stats import kendalltau, spearmanr

    from jaxconcepts.evaluation.c2mf._host_head import _corr_rows

    rng = np.random.default_rng(0)
    for k in (2, 3, 10, 50):
        a = rng.integers(0, 4, (20, k)).astype(float)  # many ties
        b = rng.standard_normal((20, k))
        b[:5] = np.round(b[:5])
        a[0] = 1.0  # constant: NaN
        got = _corr_rows(a, b)
        assert np.isnan(got[0]).all()
        for i in range(1, 20):
            if np.ptp(b[i]) == 0 or np.ptp(a[i]) == 0:
                continue
            assert got[i, 0] == pytest.approx(spearmanr(a[i], b[i]).statistic, abs=1e-12)
            assert got[i, 1] == pytest.approx(kendalltau(a[i], b[i]).statistic, abs=1e-12)
