"""OOD / confidence study: hand cases, agreement with scikit-learn (ties included), shapes."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from jaxconcepts.evaluation._ood import (
    ConfidenceStudy,
    confidence_study,
    crop_logits,
    max_softmax,
    ood_metrics,
    ood_table,
)
from jaxconcepts.features import HeadParams


def _sk(a, b):
    y = np.r_[np.ones(len(a)), np.zeros(len(b))]
    s = np.r_[a, b]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return {
        "auroc": roc_auc_score(y, s),
        "aupr_in": average_precision_score(y, s),
        "aupr_out": average_precision_score(1 - y, -s),
        "fpr95": fpr[np.argmax(tpr >= 0.95)],
    }


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_matches_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 1.0, 40 + seed * 7)
    b = rng.normal(0.0, 1.0, 160 + seed * 13)
    if ties:  # coarse scores: many ties within and across the two sides
        a, b = np.round(a * 2) / 2, np.round(b * 2) / 2
    ours, ref = ood_metrics(a, b), _sk(a, b)
    for k in ref:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert ours["n_in"] == a.size and ours["n_out"] == b.size


def test_hand_cases():
    # perfectly separated: every metric ideal
    m = ood_metrics([0.9, 0.8], [0.1, 0.2, 0.3])
    assert m["auroc"] == 1.0 and m["aupr_in"] == 1.0 and m["aupr_out"] == 1.0
    assert m["fpr95"] == 0.0
    # reversed: AUROC 0, every OOD sample accepted at 95 % TPR
    m = ood_metrics([0.1, 0.2], [0.8, 0.9])
    assert m["auroc"] == 0.0 and m["fpr95"] == 1.0
    # all tied: AUROC 1/2, AP = share of positives
    m = ood_metrics([0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert m["auroc"] == 0.5
    assert m["aupr_in"] == pytest.approx(0.25) and m["aupr_out"] == pytest.approx(0.75)
    # one inversion out of 2 x 2 pairs
    m = ood_metrics([0.9, 0.3], [0.5, 0.1])
    assert m["auroc"] == pytest.approx(0.75)
    assert m["fpr95"] == pytest.approx(0.5)  # threshold 0.3 accepts both in, and OOD 0.5


def test_bad_input():
    with pytest.raises(ValueError, match="both sides"):
        ood_metrics([], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        ood_metrics([np.nan], [0.1])
    with pytest.raises(ValueError, match="tpr"):
        ood_metrics([1.0], [0.1], tpr=0.0)
    with pytest.raises(ValueError, match="exactly one"):
        crop_logits(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\(N, n_crops, C\)"):
        crop_logits(np.zeros((2, 4)), HeadParams(np.zeros((3, 4)), np.zeros(3)))
    with pytest.raises(ValueError, match="weight"):
        crop_logits(np.zeros((2, 3, 4)), HeadParams(np.zeros((3, 5)), np.zeros(3)))
    with pytest.raises(ValueError, match="disagree"):
        confidence_study(np.zeros((2, 3)), np.zeros((2, 4, 4)))


def test_max_softmax_stable_and_exact():
    z = np.array([[1000.0, 0.0], [0.0, 0.0], [1.0, 2.0]])
    p = max_softmax(z)
    np.testing.assert_allclose(p, [1.0, 0.5, np.exp(2) / (np.exp(1) + np.exp(2))])


def test_crop_logits_head_and_callable_agree():
    rng = np.random.default_rng(0)
    crops = rng.normal(size=(5, 3, 6)).astype(np.float32)
    head = HeadParams(rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=4).astype(np.float32))
    a = crop_logits(crops, head)
    b = crop_logits(crops, h=lambda r: r @ np.asarray(head.weight).T + np.asarray(head.bias))
    assert a.shape == (5, 3, 4)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a[2, 1], crops[2, 1] @ np.asarray(head.weight).T + head.bias, rtol=1e-5)


def test_confidence_study_gap_and_table():
    rng = np.random.default_rng(1)
    full = rng.normal(size=(30, 5)) * 0.5
    full[np.arange(30), rng.integers(0, 5, 30)] += 6.0  # confident images
    crops = rng.normal(size=(30, 4, 5)) * 0.5  # unconfident crops
    s = confidence_study(full, crops)
    assert isinstance(s, ConfidenceStudy)
    assert s.conf_full.shape == (30,) and s.conf_crops.shape == (120,)
    assert s.delta_mu == pytest.approx(s.conf_full.mean() - s.conf_crops.mean())
    assert s.delta_mu > 0.3 and s.metrics["auroc"] > 0.95
    summ = s.summary()
    assert summ["delta_mu"] == s.delta_mu and summ["auroc"] == s.metrics["auroc"]
    assert "conf_full" not in summ
    md = ood_table({"toy": s}, backbones={"toy": "random"})
    assert "| ours | toy | random | 30 | 120 |" in md
    assert "| paper | ImageNet | NF-ResNet50 |" in md and "0.880" in md
