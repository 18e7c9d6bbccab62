"""Concept-map math (jaxconcepts/concepts/_maps.py): group sums, upsampling, min-max normalisation.

Drawing-side checks (bilinear upsampling, constant maps, validation through ``viz``) live in
tests/viz/test_maps.py; these check the primitives against NumPy at the activations' own size,
where resizing is the identity.
"""

import numpy as np
import pytest

from jaxconcepts.concepts._maps import (
    concept_maps, group_maps, sub_concept_maps, upsample_maps,
)


def _acts(seed=0, b=2, c=6, h=3, w=4):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=(b, c, h, w)), 0).astype(np.float32)


def _minmax(x):
    lo = x.min((-2, -1), keepdims=True)
    hi = x.max((-2, -1), keepdims=True)
    return np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1), 0.0)


LABELS = np.array([[0, 1, 0, -1, 2, 1], [2, 2, 2, 0, -1, -1]], np.int32)


def test_group_maps_sum_each_groups_channels_and_ignore_dead_ones():
    a = _acts()
    g = np.asarray(group_maps(a, LABELS, n_groups=4))
    assert g.shape == (2, 4, 3, 4) and g.dtype == np.float32
    for b in range(2):
        for k in range(4):
            np.testing.assert_allclose(g[b, k], a[b][LABELS[b] == k].sum(0), rtol=1e-6)
    assert not g[:, 3].any() and not g[1, 1].any()  # empty groups are zero


def test_upsample_maps_at_the_same_size_is_min_max_normalisation():
    m = _acts(1, c=3)
    m[0, 2] = 5.0  # constant map -> 0
    out = np.asarray(upsample_maps(m, size=(3, 4)))
    np.testing.assert_allclose(out, _minmax(m), atol=1e-6)
    assert out.min() >= 0 and out.max() <= 1 and not out[0, 2].any()
    assert upsample_maps(m, size=(6, 8)).shape == (2, 3, 6, 8)


def test_concept_maps_equal_grouped_then_normalised_with_their_lo_hi():
    a = _acts(2)
    r = concept_maps(a, LABELS, n_concepts=3, size=(3, 4))
    summed = np.stack([[a[b][LABELS[b] == k].sum(0) for k in range(3)] for b in range(2)])
    np.testing.assert_allclose(np.asarray(r.maps), _minmax(summed), atol=1e-6)
    np.testing.assert_allclose(np.asarray(r.lo), summed.min((-2, -1)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(r.hi), summed.max((-2, -1)), atol=1e-6)


def test_sub_maps_use_the_parents_scale_and_add_up_to_the_parent():
    a = _acts(3)
    sub = np.array([[0, 0, 1, -1, 0, 1], [0, 1, 1, 0, -1, -1]], np.int32)
    parent = concept_maps(a, LABELS, n_concepts=3, size=(3, 4))
    r = sub_concept_maps(a, LABELS, sub, n_concepts=3, n_sub=2, size=(3, 4))
    assert r.maps.shape == (2, 3, 2, 3, 4)
    np.testing.assert_array_equal(np.asarray(r.lo), np.asarray(parent.lo))
    span = np.asarray(parent.hi - parent.lo)[..., None, None]
    lo = np.asarray(parent.lo)[..., None, None]
    # un-normalise: the sub-concepts' raw sums add up to the parent's raw sum
    raw_subs = (np.asarray(r.maps) * span[:, :, None] + lo[:, :, None]).sum(2) - lo
    raw_parent = np.asarray(parent.maps) * span + lo
    np.testing.assert_allclose(raw_subs, raw_parent, atol=1e-5)


def test_label_checks():
    a = _acts()
    with pytest.raises(ValueError, match="activations should have shape"):
        concept_maps(a[0], LABELS[0], n_concepts=3, size=(3, 4))
    with pytest.raises(ValueError, match=r"sub_labels should have shape \(B, C\)"):
        sub_concept_maps(a, LABELS, LABELS[:, :3], n_concepts=3, n_sub=2, size=(3, 4))
    with pytest.raises(TypeError, match="sub_labels should be an integer array"):
        sub_concept_maps(a, LABELS, LABELS.astype(np.float32), n_concepts=3, n_sub=2, size=(3, 4))
    with pytest.raises(ValueError, match="size should be"):
        concept_maps(a, LABELS, n_concepts=3, size=(3,))
