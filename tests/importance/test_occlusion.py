"""Occlusion importance (Eq. 3): hand cases, closed form == direct head, edge cases, properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxconcepts.heads import HeadParams, HostHead
from jaxconcepts.importance import (
    DEFAULT_MIN_P,
    _occlusion,
    concept_importance,
    importance_from_log_probs,
    importance_from_probs,
    masked_logits,
    occlusion_masks,
)


def _problem(seed=0, b=3, c=12, h=4, w=4, k=3, s=3, n=7):
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(size=(b, c, h, w)), 0).astype(np.float32)
    a[:, 0] = 0.0  # a dead channel
    lab = rng.integers(0, k, size=(b, c)).astype(np.int32)
    lab[:, 0] = -1
    sub = np.where(lab >= 0, rng.integers(0, s, size=(b, c)), -1).astype(np.int32)
    weight = rng.normal(size=(n, c)).astype(np.float32)
    bias = rng.normal(size=n).astype(np.float32)
    target = rng.integers(0, n, size=b).astype(np.int32)
    return a, lab, sub, weight, bias, target


def _softmax64(z):
    z = np.asarray(z, np.float64)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _reference(a, lab, sub, weight, bias, target, k, s):
    """Eq. 3 the straightforward way: float64 numpy, one masked map per concept."""

    def p(img, keep, t):
        return _softmax64(
            (img * keep[:, None, None]).mean((1, 2)) @ weight.T.astype(np.float64) + bias
        )[t]

    b = a.shape[0]
    imp, keep_imp, sub_imp, p_t = (
        np.zeros((b, k)),
        np.zeros((b, k)),
        np.zeros((b, k, s)),
        np.zeros(b),
    )
    for i in range(b):
        img, t = a[i].astype(np.float64), target[i]
        pt = p(img, np.ones(a.shape[1]), t)
        p_t[i] = pt
        for l in range(k):
            m = lab[i] == l
            if m.any():
                imp[i, l] = (pt - p(img, ~m, t)) / pt * 100
                keep_imp[i, l] = (pt - p(img, m, t)) / pt * 100
            for j in range(s):
                ms = m & (sub[i] == j)
                if ms.any():
                    sub_imp[i, l, j] = (pt - p(img, ~ms, t)) / pt * 100
    return p_t, imp, keep_imp, sub_imp


def test_hand_computed_toy():
    # C=2 channels, 1x1 maps, 2 classes; h = identity pooling + W = I, b = 0 -> logits = A.
    a = np.array([[[[2.0]], [[1.0]]]], np.float32)
    lab = np.array([[0, 1]], np.int32)
    sub = np.array([[0, 0]], np.int32)
    head = HeadParams(np.eye(2, dtype=np.float32), np.zeros(2, np.float32))
    r = concept_importance(a, lab, sub, np.array([0], np.int32), head=head, n_concepts=2, n_sub=1)
    p_t = np.exp(2) / (np.exp(2) + np.exp(1))
    # occlude concept 0 -> logits (0, 1): p = 1/(1+e); occlude concept 1 -> logits (2, 0)
    p0 = 1 / (1 + np.e)
    p1 = np.exp(2) / (np.exp(2) + 1)
    np.testing.assert_allclose(r.p_t, [p_t], rtol=1e-6)
    np.testing.assert_allclose(
        r.importance, [[(p_t - p0) / p_t * 100, (p_t - p1) / p_t * 100]], rtol=1e-5
    )
    # keep only concept 0 == occlude concept 1, and vice versa
    np.testing.assert_allclose(r.keep_importance, r.importance[:, ::-1], rtol=1e-6)
    np.testing.assert_allclose(r.sub_importance[..., 0], r.importance, rtol=1e-6)
    assert r.importance[0, 1] < 0  # removing the competing class's evidence raises p_t


def test_matches_float64_reference():
    a, lab, sub, weight, bias, target = _problem()
    r = concept_importance(a, lab, sub, target, head=HeadParams(weight, bias), n_concepts=3)
    p_t, imp, keep, sub_imp = _reference(a, lab, sub, weight, bias, target, 3, 3)
    np.testing.assert_allclose(r.p_t, p_t, rtol=1e-5)
    np.testing.assert_allclose(r.importance, imp, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(r.keep_importance, keep, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(r.sub_importance, sub_imp, rtol=1e-4, atol=1e-3)
    assert r.valid.all()


@pytest.mark.slow
def test_closed_form_equals_head_on_masked_maps():
    """The GAP+linear shortcut equals h run on every explicitly masked map (JAX and host paths)."""
    a, lab, sub, weight, bias, target = _problem(seed=1)
    keep, _ = occlusion_masks(lab, sub, n_concepts=3, n_sub=3)
    closed = masked_logits(a, keep, HeadParams(weight, bias))
    direct = np.stack(
        [
            np.stack(
                [
                    (a[i] * np.asarray(keep[i, m])[:, None, None]).mean((1, 2)) @ weight.T + bias
                    for m in range(keep.shape[1])
                ]
            )
            for i in range(a.shape[0])
        ]
    )
    np.testing.assert_allclose(closed, direct, rtol=1e-5, atol=1e-5)

    def h(x):
        return x.mean((-2, -1)) @ weight.T + bias

    np.testing.assert_allclose(masked_logits(a, keep, h), closed, rtol=1e-5, atol=1e-5)
    kw = {"n_concepts": 3, "n_sub": 3}
    r_lin = concept_importance(a, lab, sub, target, head=HeadParams(weight, bias), **kw)
    r_jax = concept_importance(a, lab, sub, target, head=h, **kw)
    r_host = concept_importance(
        a, lab, sub, target, head=HostHead(lambda x: np.asarray(h(x)), batch_size=7), **kw
    )
    for r in (r_jax, r_host):
        for f in ("p_t", "importance", "keep_importance", "sub_importance"):
            np.testing.assert_allclose(getattr(r, f), getattr(r_lin, f), rtol=1e-4, atol=2e-4)


@pytest.mark.slow
def test_closed_form_equals_timm_forward_head():
    """Against a real timm head (EfficientNet-Lite0, random weights) run in torch on masked maps."""
    import torch
    from jaxconcepts.features import load_model

    lm = load_model("tf_efficientnet_lite0", weights="random", num_classes=10)
    assert lm.head_kind == "gap_linear"
    rng = np.random.default_rng(2)
    a = np.clip(rng.normal(size=(2, lm.head_weight.shape[1], 3, 3)), 0, 6).astype(np.float32)
    lab = rng.integers(0, 4, size=a.shape[:2]).astype(np.int32)
    sub = rng.integers(0, 3, size=a.shape[:2]).astype(np.int32)
    target = np.array([1, 7], np.int32)

    def torch_h(x):
        return lm.h(torch.from_numpy(np.array(x, np.float32))).numpy()

    kw = {"n_concepts": 4, "n_sub": 3}
    r_lin = concept_importance(
        a, lab, sub, target, head=HeadParams(lm.head_weight, lm.head_bias), **kw
    )
    r_torch = concept_importance(a, lab, sub, target, head=HostHead(torch_h, batch_size=16), **kw)
    for f in ("p_t", "importance", "keep_importance", "sub_importance"):
        np.testing.assert_allclose(getattr(r_torch, f), getattr(r_lin, f), rtol=1e-4, atol=2e-4)


def test_occluding_nothing_gives_zero():
    a, lab, sub, weight, bias, target = _problem(seed=3)
    keep = jnp.ones((a.shape[0], 4, a.shape[1]))
    logits = masked_logits(a, keep, HeadParams(weight, bias))
    lp = jax.nn.log_softmax(logits, -1)[jnp.arange(a.shape[0]), :, target]
    imp, valid = importance_from_log_probs(lp[:, 0], lp[:, 1:])
    assert valid.all()
    np.testing.assert_array_equal(imp, 0.0)
    # an empty concept (no channel) occludes nothing: exactly 0 in every output
    lab2 = np.where(lab == 2, 1, lab).astype(np.int32)
    r = concept_importance(a, lab2, sub, target, head=HeadParams(weight, bias), n_concepts=3)
    np.testing.assert_array_equal(r.importance[:, 2], 0.0)
    np.testing.assert_array_equal(r.keep_importance[:, 2], 0.0)
    np.testing.assert_array_equal(r.sub_importance[:, 2], 0.0)


def test_occluding_every_channel_gives_bias_softmax():
    """One concept holding every channel: occluding it leaves logits = b, so
    I = (p_t - softmax(b)_t) / p_t * 100."""
    a, _, _, weight, bias, target = _problem(seed=4)
    lab = np.zeros(a.shape[:2], np.int32)
    sub = np.zeros(a.shape[:2], np.int32)
    r = concept_importance(
        a, lab, sub, target, head=HeadParams(weight, bias), n_concepts=2, n_sub=2
    )
    logits = a.astype(np.float64).mean((2, 3)) @ weight.T.astype(np.float64) + bias
    p_t = _softmax64(logits)[np.arange(len(target)), target]
    p_b = _softmax64(bias)[target]
    np.testing.assert_allclose(r.importance[:, 0], (p_t - p_b) / p_t * 100, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        r.keep_importance[:, 0], 0.0, atol=1e-4
    )  # keeping all = nothing occluded
    np.testing.assert_allclose(r.sub_importance[:, 0, 0], r.importance[:, 0], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(r.importance[:, 1], 0.0)  # empty concept


def test_zero_p_t_gives_documented_zero():
    imp, valid = importance_from_probs(
        np.array([0.0, 1e-30, 0.5]), np.array([[0.2, 0.0], [0.3, 1e-31], [0.25, 0.5]])
    )
    assert imp.dtype == jnp.float32 and np.isfinite(imp).all()
    np.testing.assert_array_equal(valid, [False, False, True])
    np.testing.assert_array_equal(imp[:2], 0.0)
    np.testing.assert_allclose(imp[2], [50.0, 0.0])
    imp, valid = importance_from_log_probs(
        np.array([-np.inf, -100.0]), np.array([[-1.0], [-np.inf]])
    )
    np.testing.assert_array_equal(valid, [False, False])
    np.testing.assert_array_equal(imp, 0.0)
    # end to end: a head whose target logit is hugely negative -> p_t == 0 in float32
    a, lab, sub, weight, bias, target = _problem(seed=5)
    bias = bias.copy()
    bias[target] = -1e4
    r = concept_importance(a, lab, sub, target, head=HeadParams(weight, bias), n_concepts=3)
    assert not r.valid.any() and (np.asarray(r.p_t) == 0).all()
    for f in ("importance", "keep_importance", "sub_importance"):
        assert np.array_equal(getattr(r, f), np.zeros_like(getattr(r, f)))


def test_tiny_but_valid_p_t_is_finite():
    """p_t just above min_p: no overflow; I >= (1 - 1/min_p) * 100."""
    log_pt = np.log(np.float32(DEFAULT_MIN_P) * 1.01)
    imp, valid = importance_from_log_probs(np.array([log_pt]), np.array([[0.0, log_pt]]))
    assert valid.all() and np.isfinite(imp).all()
    assert imp[0, 0] >= (1 - 1 / DEFAULT_MIN_P) * 100 * 1.001
    np.testing.assert_allclose(imp[0, 1], 0.0, atol=1e-6)


def test_no_sub_concepts():
    a, lab, _, weight, bias, target = _problem(seed=8)
    sub = np.full(lab.shape, -1, np.int32)
    r = concept_importance(
        a, lab, sub, target, head=HeadParams(weight, bias), n_concepts=3, n_sub=0
    )
    assert r.sub_importance.shape == (a.shape[0], 3, 0) and r.importance.shape == (a.shape[0], 3)


def test_any_weight_bias_record_is_the_linear_head():
    """The store's ``HeadParams`` is the one linear head; any record with weight / bias reads
    as one."""
    from types import SimpleNamespace

    a, lab, sub, weight, bias, target = _problem(seed=6)
    r1 = concept_importance(
        a, lab, sub, target, head=HeadParams(jnp.asarray(weight), jnp.asarray(bias)), n_concepts=3
    )
    r2 = concept_importance(a, lab, sub, target, head=SimpleNamespace(weight=weight, bias=bias),
                            n_concepts=3)
    np.testing.assert_array_equal(r1.importance, r2.importance)


def test_jit_no_retrace_second_call():
    a, lab, sub, weight, bias, target = _problem(seed=7)
    kw = {"head": HeadParams(weight, bias), "n_concepts": 3}
    concept_importance(a, lab, sub, target, **kw)
    n = _occlusion._pipeline_linear._cache_size()
    concept_importance(a + 1.0, lab, sub, target, **kw)
    assert _occlusion._pipeline_linear._cache_size() == n


def test_mask_layout():
    lab = np.array([[0, 1, 1, -1]], np.int32)
    sub = np.array([[0, 0, 1, -1]], np.int32)
    keep, nonempty = occlusion_masks(lab, sub, n_concepts=2, n_sub=2)
    assert keep.shape == (1, 1 + 4 + 4, 4)
    np.testing.assert_array_equal(keep[0, 0], [1, 1, 1, 1])
    np.testing.assert_array_equal(keep[0, 1:3], [[0, 1, 1, 1], [1, 0, 0, 1]])  # occlude l
    np.testing.assert_array_equal(keep[0, 3:5], [[1, 0, 0, 0], [0, 1, 1, 0]])  # keep only l
    np.testing.assert_array_equal(
        keep[0, 5:], [[0, 1, 1, 1], [1, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1]]
    )
    np.testing.assert_array_equal(nonempty[0], [1, 1, 1, 1, 1, 1, 0, 1, 1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"labels": np.zeros((3, 5), np.int32)}, "labels should have shape"),
        ({"labels": np.full((3, 12), 3, np.int32)}, r"labels should lie in \[-1, n_concepts=3\)"),
        ({"labels": np.zeros((3, 12), np.float32)}, "labels should be an integer"),
        ({"target": np.array([0, 1, 99], np.int32)}, "target should lie"),
        ({"n_concepts": 0}, "n_concepts=0"),
        ({"min_p": 0.0}, "min_p=0.0"),
        ({"head": "nope"}, "head should be"),
    ],
)
def test_validation_names_argument(kwargs, match):
    a, lab, sub, weight, bias, target = _problem()
    args = {"activations": a, "labels": lab, "sub_labels": sub, "target": target}
    opts = {"head": HeadParams(weight, bias), "n_concepts": 3}
    for k, v in kwargs.items():
        (args if k in args else opts)[k] = v
    with pytest.raises((ValueError, TypeError), match=match):
        concept_importance(
            args["activations"], args["labels"], args["sub_labels"], args["target"], **opts
        )


@pytest.mark.slow
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 4),
    scale=st.sampled_from([0.01, 1.0, 30.0]),
)
def test_property_bounded_and_finite(seed, k, scale):
    """I <= 100 always (p_c >= 0), everything finite, and an image's importances are permutation
    equivariant in the concept ids."""
    a, _, _, weight, bias, target = _problem(seed=seed, b=2, c=6, h=2, w=2, n=5)
    rng = np.random.default_rng(seed)
    lab = rng.integers(-1, k, size=a.shape[:2]).astype(np.int32)
    sub = np.where(lab >= 0, rng.integers(0, 2, size=a.shape[:2]), -1).astype(np.int32)
    head = HeadParams(weight * scale, bias)
    r = concept_importance(a, lab, sub, target, head=head, n_concepts=k, n_sub=2)
    for f in ("p_t", "importance", "keep_importance", "sub_importance"):
        assert np.isfinite(getattr(r, f)).all()
    assert (np.asarray(r.importance) <= 100 + 1e-3).all()
    perm = rng.permutation(k)
    lab_p = np.where(lab >= 0, perm[np.maximum(lab, 0)], -1).astype(np.int32)
    r_p = concept_importance(a, lab_p, sub, target, head=head, n_concepts=k, n_sub=2)
    np.testing.assert_allclose(
        np.asarray(r_p.importance)[:, perm], r.importance, rtol=1e-5, atol=1e-4
    )
