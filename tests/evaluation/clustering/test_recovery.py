"""Recovery scores on hand-made cases: perfect maps score 1, random maps score chance."""

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxconcepts.datasets import PARTS, PlantedConfig, generate_split
from jaxconcepts.concepts import group_maps, upsample_maps
from jaxconcepts.evaluation import auroc_pixels, random_grouping, score_maps, summarise

P = len(PARTS)


@pytest.fixture(scope="module")
def truth():
    ims = list(generate_split(PlantedConfig(image_size=32), "test", 8, seed=0))
    pm = np.stack([i.part_map for i in ims])
    present = np.stack([i.present for i in ims])
    defining = np.stack([i.defining for i in ims])
    return pm, present, defining


def _part_maps(pm):
    return (pm[:, None] == np.arange(P)[None, :, None, None]).astype(np.float32)


def test_perfect_maps_score_one(truth):
    pm, present, defining = truth
    imp = np.where(defining, 40.0, np.where(present, 2.0, 0.0)).astype(np.float32)
    s = score_maps(_part_maps(pm), present, pm, present, defining, imp, tolerance=0)
    out = summarise(s, list(PARTS))
    assert out["pointing"] == 1.0 and out["iou"] == 1.0 and out["auroc"] == 1.0
    assert out["found_rate"] == 1.0 and out["parts_found"] == out["parts_present"]
    assert out["importance"]["auroc"] == 1.0 and out["importance"]["spearman"] == 1.0
    cat = np.asarray(s.category)
    np.testing.assert_array_equal(cat[present & defining], 0)
    np.testing.assert_array_equal(cat[present & ~defining], 1)
    np.testing.assert_array_equal(cat[~present], -1)


def test_reversed_importance_scores_zero(truth):
    pm, present, defining = truth
    imp = np.where(defining, 1.0, 30.0).astype(np.float32)
    out = summarise(score_maps(_part_maps(pm), present, pm, present, defining, imp, tolerance=0))
    assert out["importance"]["auroc"] == 0.0 and out["importance"]["spearman"] == -1.0


def test_random_maps_score_chance(truth):
    pm, present, defining = truth
    rng = np.random.default_rng(0)
    maps = rng.random((len(pm), 1, 32, 32)).astype(np.float32)
    s = score_maps(maps, np.ones((len(pm), 1), bool), pm, present, defining, tolerance=0)
    out = summarise(s)
    assert abs(out["auroc"] - 0.5) < 0.05
    area = np.mean([(pm[i] == p).mean() for i, p in zip(*np.nonzero(present))])
    assert out["pointing"] < 4 * area + 0.1  # chance: the part's share of the pixels
    assert out["iou"] < 0.2 and out["parts_found"] == 0
    assert out["importance"]["auroc"] is None  # no importance given


def test_low_resolution_map_on_the_part_is_found():
    # One 8x8 map with a bump on the cell under a disc: upsampled, it points at the disc.
    pm = np.full((1, 64, 64), -1, np.int8)
    yy, xx = np.mgrid[0:64, 0:64]
    pm[0][(yy - 20) ** 2 + (xx - 44) ** 2 <= 81] = 0
    low = np.zeros((1, 2, 8, 8), np.float32)
    low[0, 0, 2, 5] = 1.0  # cell centre (20, 44)
    low[0, 1, 6, 1] = 1.0  # a background concept
    present = np.zeros((1, P), bool)
    present[0, 0] = True
    s = score_maps(low, np.ones((1, 2), bool), pm, present, present, np.array([[50.0, 1.0]]))
    assert bool(s.hit[0, 0]) and float(s.auroc[0, 0]) > 0.95
    assert np.asarray(s.category).tolist() == [[0, 2]]
    assert float(s.imp_auroc[0]) == 1.0


def test_invalid_concepts_are_never_matched(truth):
    pm, present, defining = truth
    s = score_maps(_part_maps(pm), np.zeros_like(present), pm, present, defining, tolerance=0)
    assert float(np.asarray(s.hit).sum()) == 0 and float(np.asarray(s.iou).max()) == 0
    assert (np.asarray(s.category) == -1).all()


def test_auroc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    scores = np.round(rng.random((20, 20)), 1).astype(np.float32)  # many ties
    masks = rng.random((3, 20, 20)) < np.array([0.1, 0.5, 0.9])[:, None, None]
    got = np.asarray(auroc_pixels(scores, masks))
    want = [roc_auc_score(m.ravel(), scores.ravel()) for m in masks]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.isnan(np.asarray(auroc_pixels(scores, np.zeros((1, 20, 20), bool)))).all()


def test_host_pixel_auroc_equals_the_kernel_and_sklearn():
    """score_maps ranks pixels on the host (pixel_auroc): the same AUROC as auroc_pixels and
    scikit-learn, ties (including -0.0 vs +0.0) and negative values included, NaN for a part
    that is absent or covers the whole image."""
    from sklearn.metrics import roc_auc_score

    from jaxconcepts.evaluation.clustering._recovery import pixel_auroc

    rng = np.random.default_rng(2)
    maps = (np.round(rng.random((2, 3, 12, 12)), 1) - 0.3).astype(np.float32)
    maps[0, 0, :6] = 0.0
    maps[0, 0, 6:] = -0.0
    maps[0, 0, 0, :3] = 0.5
    pm = rng.integers(-1, 3, (2, 12, 12))
    pm[1] = np.where(pm[1] == 2, 0, pm[1])  # part 2 absent from image 1
    pm[0, :] = np.where(pm[0] == 2, 1, pm[0])
    pm[0, 0, 0] = 2
    got = pixel_auroc(maps, pm, 3)
    for b in range(2):
        kern = np.asarray(jax.vmap(auroc_pixels, in_axes=(0, None))(
            maps[b], pm[b][None] == np.arange(3)[:, None, None]))
        np.testing.assert_allclose(got[b], kern, atol=1e-6)
        for g in range(3):
            for p in range(3):
                pos = (pm[b] == p).ravel()
                if pos.all() or not pos.any():
                    assert np.isnan(got[b, g, p])
                else:
                    want = roc_auc_score(pos, maps[b, g].ravel())
                    assert abs(got[b, g, p] - want) < 1e-9
    assert np.isnan(got[1, :, 2]).all()
    all_part = np.zeros((1, 12, 12), int)
    assert np.isnan(pixel_auroc(maps[:1], all_part, 1)).all()


def test_constant_map_normalises_to_zero_and_auroc_half():
    up = np.asarray(upsample_maps(np.full((1, 1, 4, 4), 3.0), size=(16, 16)))
    assert (up == 0).all()
    m = np.zeros((1, 16, 16), bool)
    m[0, :4] = True
    assert float(auroc_pixels(up[0, 0], m)[0]) == 0.5


def test_group_maps_sums_channels():
    a = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    lab = np.array([[0, 0, 1], [1, -1, 1]])
    g = np.asarray(group_maps(a, lab, n_groups=2))
    np.testing.assert_allclose(g[0, 0], a[0, 0] + a[0, 1])
    np.testing.assert_allclose(g[1, 1], a[1, 0] + a[1, 2])
    np.testing.assert_allclose(g[1, 0], 0)


@given(st.integers(0, 2**31 - 1), st.lists(st.integers(-1, 4), min_size=24, max_size=24))
def test_random_grouping_keeps_sizes_and_dead_channels(seed, row):
    lab = np.array([row, row[::-1]], np.int32)
    out = np.asarray(random_grouping(lab, key=jax.random.key(seed)))
    np.testing.assert_array_equal(out < 0, lab < 0)
    for r in range(2):
        np.testing.assert_array_equal(np.sort(out[r]), np.sort(lab[r]))


def test_random_grouping_changes_labels():
    lab = np.tile(np.repeat(np.arange(4), 8), (3, 1)).astype(np.int32)
    out = np.asarray(random_grouping(lab, key=jax.random.key(0)))
    assert (out != lab).mean() > 0.5


@pytest.mark.parametrize(
    "kw, match",
    [(dict(maps=np.zeros((2, 3, 4))), "maps"), (dict(valid=np.ones((2, 2), bool)), "valid"),
     (dict(part_map=np.zeros((2, 8, 8), np.float32)), "part_map"),
     (dict(importance=np.zeros((2, 2))), "importance"), (dict(tolerance=-1), "tolerance"),
     (dict(iou_threshold=0.0), "iou_threshold")],
)
def test_validation_names_the_argument(kw, match):
    args = dict(maps=np.zeros((2, 3, 4, 4)), valid=np.ones((2, 3), bool),
                part_map=np.zeros((2, 8, 8), np.int8), present=np.ones((2, P), bool),
                defining=np.ones((2, P), bool), importance=None)
    hyper = {k: kw.pop(k) for k in ("tolerance", "iou_threshold") if k in kw}
    args.update(kw)
    with pytest.raises((ValueError, TypeError), match=match):
        score_maps(*args.values(), **hyper)
