"""OOD / confidence study: hand cases, agreement with scikit-learn (ties included), shapes."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from jaxconcepts.evaluation.ood._confidence import (
    ConfidenceStudy,
    _weighted_auroc,
    confidence_study,
    crop_logits,
    mask_fraction_in_boxes,
    max_softmax,
    object_fractions,
    object_split,
    ood_metrics,
)
from jaxconcepts.report import object_split_markdown, ood_table
from jaxconcepts.store import HeadParams


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
    head = HeadParams(rng.normal(size=(4, 6)).astype(np.float32),
                      rng.normal(size=4).astype(np.float32))
    a = crop_logits(crops, head)
    b = crop_logits(crops, h=lambda r: r @ np.asarray(head.weight).T + np.asarray(head.bias))
    assert a.shape == (5, 3, 4)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a[2, 1], crops[2, 1] @ np.asarray(head.weight).T + head.bias,
                               rtol=1e-5)


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
    md = ood_table({"toy": s.summary()}, backbones={"toy": "random"})
    assert "| ours | toy | random | 30 | 120 |" in md
    assert "| paper | ImageNet | NF-ResNet50 |" in md and "0.880" in md


# -- crops that keep / lose the object -------------------------------------------------------------


def _six():
    """A 6x6 mask with a 3x4 object at rows 1-3, columns 1-4 (12 pixels)."""
    m = np.zeros((6, 6), bool)
    m[1:4, 1:5] = True
    return m


def test_mask_fraction_in_boxes_hand_cases():
    boxes = np.array([
        [0, 0, 6, 6],  # the whole image: all of it
        [1, 1, 3, 4],  # exactly the object
        [0, 0, 2, 3],  # partly: row 1, columns 1-2 -> 2 of 12
        [4, 0, 2, 6],  # below the object: none
        [3, 3, 3, 3],  # at the bottom-right border: row 3, columns 3-4 -> 2 of 12
        [0, 5, 6, 1],  # the last column, at the right border: none
        [1, 0, 2, 6],  # rows 1-2, full width -> 8 of 12
    ])
    f = mask_fraction_in_boxes(_six(), boxes)
    np.testing.assert_allclose(f, [1.0, 1.0, 2 / 12, 0.0, 2 / 12, 0.0, 8 / 12], rtol=0, atol=0)
    assert np.isnan(mask_fraction_in_boxes(np.zeros((6, 6), bool), boxes)).all()  # undefined


@pytest.mark.parametrize("seed", range(3))
def test_mask_fraction_in_boxes_matches_counting(seed):
    rng = np.random.default_rng(seed)
    H, W = 17, 23
    mask = rng.random((H, W)) < 0.3
    h, w = rng.integers(1, H + 1, 40), rng.integers(1, W + 1, 40)
    t, l = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
    boxes = np.stack([t, l, h, w], 1)
    ref = [mask[a:a + c, b:b + d].sum() / mask.sum() for a, b, c, d in boxes]
    np.testing.assert_allclose(mask_fraction_in_boxes(mask, boxes), ref, rtol=1e-12)


def test_mask_fraction_bad_boxes():
    with pytest.raises(ValueError, match=r"box \[4, 4, 3, 3\].*inside the 6x6 mask"):
        mask_fraction_in_boxes(_six(), [[0, 0, 2, 2], [4, 4, 3, 3]])
    with pytest.raises(ValueError, match="inside"):
        mask_fraction_in_boxes(_six(), [[0, 0, 0, 2]])  # empty box
    with pytest.raises(ValueError, match="integer"):
        mask_fraction_in_boxes(_six(), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        mask_fraction_in_boxes(np.zeros(6, bool), np.zeros((1, 4), int))


def test_object_fractions_union_of_defining_parts_and_size_check():
    # image 0: parts 0 (defining, 4 px) and 2 (distractor); image 1: parts 1 and 2 (both defining)
    pm = np.full((2, 4, 4), -1, np.int8)
    pm[0, :2, :2] = 0
    pm[0, 2:, 2:] = 2
    pm[1, :2, :2] = 1
    pm[1, 2:, 2:] = 2
    defining = np.array([[True, False, False], [False, True, True]])
    boxes = np.array([[[0, 0, 2, 2], [2, 2, 2, 2]], [[0, 0, 2, 2], [0, 0, 4, 4]]])
    f = object_fractions(pm, defining, boxes, input_size=(4, 4))
    np.testing.assert_allclose(f, [[1.0, 0.0], [0.5, 1.0]])
    with pytest.raises(ValueError, match=r"masks are 4x4 but .* a 8x8 model input"):
        object_fractions(pm, defining, boxes, input_size=(8, 8))
    with pytest.raises(ValueError, match="inside the 4x4"):
        object_fractions(pm, defining, boxes + 1, input_size=(4, 4))
    with pytest.raises(ValueError, match=r"defining .* should be \(N=2, P\)"):
        object_fractions(pm, defining[:, :2], boxes, input_size=(4, 4))


def test_weighted_auroc_is_the_auroc_of_the_resample():
    rng = np.random.default_rng(0)
    a, b = np.round(rng.normal(1, 1, 9), 1), np.round(rng.normal(0, 1, 14), 1)  # ties
    wa, wb = rng.integers(0, 3, (5, 9)), rng.integers(0, 3, (5, 14))
    got = _weighted_auroc(a, b, wa.astype(float), wb.astype(float))
    for k in range(5):
        ref = ood_metrics(np.repeat(a, wa[k]), np.repeat(b, wb[k]))["auroc"]
        assert got[k] == pytest.approx(ref, abs=1e-12)
    assert np.isnan(_weighted_auroc(a, b, wa[:1] * 0.0, wb[:1].astype(float)))[0]


def _toy_split():
    """20 images at MSP in [0.85, 0.95]; per image one crop keeping its object and one half-kept
    (0.5 of the object: keeps at 0.5), both with MSP like the images', one cut to a quarter
    (MSP 0.3) and one without any object pixel (MSP 0.2)."""
    rng = np.random.default_rng(0)
    n = 20
    full = 0.85 + 0.1 * rng.random(n)
    crops = np.concatenate([0.85 + 0.1 * rng.random((n, 2)),
                            np.array([0.3, 0.2]) + 0.01 * rng.random((n, 2))], 1)
    frac = np.tile([1.0, 0.5, 0.25, 0.0], (n, 1))
    return full, crops, frac


def test_object_split_rows():
    full, crops, frac = _toy_split()
    agree = np.tile([True, True, False, False], (20, 1))
    s = object_split(full, crops, frac, keep_fraction=0.5, agree=agree, n_boot=300)
    assert (s["all"]["n_crops"], s["keeps"]["n_crops"], s["loses"]["n_crops"],
            s["none"]["n_crops"]) == (80, 40, 40, 20)
    assert s["keeps"]["n_images"] == s["loses"]["n_images"] == 20
    assert s["keeps"]["agree"] == 1.0 and s["loses"]["agree"] == 0.0
    # the all row is the plain study's
    ref = ood_metrics(full, crops.ravel())
    assert s["all"]["auroc"] == ref["auroc"] and s["all"]["n_out"] == 80
    assert s["all"]["delta_mu"] == pytest.approx(full.mean() - crops.mean())
    assert s["keeps"]["mu_crops"] == pytest.approx(crops[:, :2].mean())
    assert s["keeps"]["delta_mu"] == pytest.approx(full.mean() - crops[:, :2].mean())
    assert s["loses"]["auroc"] == 1.0 and 0.3 < s["keeps"]["auroc"] < 0.7
    for k in ("all", "keeps", "loses"):
        for m in ("delta_mu", "auroc"):
            ci = s[k][f"{m}_ci"]
            assert ci["lo"] <= s[k][m] + 1e-12 and s[k][m] - 1e-12 <= ci["hi"]
            assert ci["n_boot"] == 300
    d = s["loses_minus_keeps"]["delta_mu"]
    assert d["lo"] > 0.4 and d["verdict"] == "holds"  # losing the object costs ~0.5 of MSP
    assert s["settings"]["keep_fraction"] == 0.5 and s["settings"]["n_undefined"] == 0
    # seeded: the same intervals again
    assert object_split(full, crops, frac, keep_fraction=0.5, n_boot=300) \
        ["loses_minus_keeps"] == s["loses_minus_keeps"]
    md = object_split_markdown(s, "toy")
    assert "| keeps the object (≥ 50% of it inside) | 40 | 50% | 20 | 0.9" in md
    assert "| … of which no object pixel (0%) | 20 | 25% |" in md
    assert s["loses_minus_keeps"]["auroc"]["verdict"] == "holds"
    assert "part of the paper's gap is the object being cut away" in md


def test_object_split_empty_subset_and_undefined():
    full, crops, frac = _toy_split()
    frac[0] = np.nan  # an image without object pixels
    s = object_split(full, crops, frac, keep_fraction=1.0, n_boot=50)
    assert s["settings"]["n_undefined"] == 4 and s["all"]["n_crops"] == 80
    assert s["keeps"]["n_crops"] == 19 and s["loses"]["n_crops"] == 57
    s = object_split(full, crops, np.zeros_like(frac), keep_fraction=0.5, n_boot=50)
    assert s["keeps"]["n_crops"] == 0 and s["keeps"]["auroc"] is None
    assert s["keeps"]["auroc_ci"]["lo"] is None and s["loses_minus_keeps"]["auroc"]["verdict"] \
        == "undefined"
    assert "No crop keeps the object" in object_split_markdown(s, "toy")
    s = object_split(full, crops, frac, keep_fraction=0.5, n_boot=0)
    assert "auroc_ci" not in s["keeps"] and "loses_minus_keeps" not in s
    with pytest.raises(ValueError, match="keep_fraction=0"):
        object_split(full, crops, frac, keep_fraction=0)
    with pytest.raises(ValueError, match="disagree"):
        object_split(full, crops, frac[:, :2], keep_fraction=0.5)
