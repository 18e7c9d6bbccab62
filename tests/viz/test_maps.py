"""Concept maps (§3.4): channel sum, bilinear upsampling, min-max; sub-concepts use the parent's."""

import jax
import numpy as np
import pytest

from jaxconcepts.viz import concept_maps, sub_concept_maps


def _acts(seed=0, b=2, c=10, h=4, w=4):
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(size=(b, c, h, w)), 0).astype(np.float32)
    return a


def _up(x, size):
    return np.asarray(jax.image.resize(x, size, method="bilinear"), np.float64)


def test_concept_map_is_normalised_upsampled_sum():
    a = _acts()
    lab = np.array([[0, 0, 1, 1, 1, 2, 2, -1, 0, 1]] * 2, np.int32)
    out = concept_maps(a, lab, n_concepts=4, size=(16, 12))
    assert out.maps.shape == (2, 4, 16, 12)
    for i in range(2):
        for l in range(3):
            s = _up(a[i][lab[i] == l].sum(0), (16, 12))
            ref = (s - s.min()) / (s.max() - s.min())
            np.testing.assert_allclose(out.maps[i, l], ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose([out.lo[i, l], out.hi[i, l]], [s.min(), s.max()], rtol=1e-5)
        # concept 3 is empty: defined as an all-zero map, no NaN
        np.testing.assert_array_equal(out.maps[i, 3], 0.0)
    assert float(out.maps.min()) == 0.0 and np.isclose(float(out.maps.max()), 1.0)


def test_sub_concepts_use_parent_min_max():
    a = _acts(seed=1)
    a[:, :, 0, 0] = 0.0  # keep a zero corner so the parent's min is small but maps vary
    lab = np.array([[0, 0, 0, 0, 1, 1, 1, 1, 1, -1]] * 2, np.int32)
    sub = np.array([[0, 1, 1, 2, 0, 0, 1, 2, 2, -1]] * 2, np.int32)
    size = (8, 8)
    subs = sub_concept_maps(a, lab, sub, n_concepts=2, n_sub=3, size=size)
    parents = concept_maps(a, lab, n_concepts=2, size=size)
    np.testing.assert_allclose(subs.lo, parents.lo)
    np.testing.assert_allclose(subs.hi, parents.hi)
    own_max_seen = []
    for i in range(2):
        for l in range(2):
            p = _up(a[i][lab[i] == l].sum(0), size)
            lo, hi = p.min(), p.max()
            for s in range(3):
                m = (lab[i] == l) & (sub[i] == s)
                x = _up(a[i][m].sum(0), size)
                np.testing.assert_allclose(
                    subs.maps[i, l, s], (x - lo) / (hi - lo), rtol=1e-5, atol=1e-5
                )
                own_max_seen.append(float(subs.maps[i, l, s].max()))
    # parent scaling: a part is never brighter than the whole; at least one part is strictly dimmer
    assert max(own_max_seen) <= 1 + 1e-6 and min(own_max_seen) < 0.99
    # with the parent's min at 0 the sub-concept maps add up to the parent's map (linearity)
    np.testing.assert_allclose(np.asarray(subs.maps).sum(2), parents.maps, rtol=1e-5, atol=1e-5)


def test_constant_and_zero_maps_are_defined():
    a = np.zeros((1, 3, 2, 2), np.float32)
    out = concept_maps(a, np.array([[0, 1, 1]], np.int32), n_concepts=2, size=(4, 4))
    assert np.isfinite(out.maps).all()
    np.testing.assert_array_equal(out.maps, 0.0)
    subs = sub_concept_maps(
        a,
        np.array([[0, 1, 1]], np.int32),
        np.array([[0, 0, 1]], np.int32),
        n_concepts=2,
        n_sub=2,
        size=(4, 4),
    )
    np.testing.assert_array_equal(subs.maps, 0.0)


def test_validation():
    a = _acts()
    with pytest.raises(ValueError, match="labels should have shape"):
        concept_maps(a, np.zeros((2, 3), np.int32), n_concepts=2, size=(4, 4))
    with pytest.raises(TypeError, match="labels should be an integer"):
        concept_maps(a, np.zeros((2, 10), np.float32), n_concepts=2, size=(4, 4))
    with pytest.raises(ValueError, match="size should be"):
        concept_maps(a, np.zeros((2, 10), np.int32), n_concepts=2, size=(0, 4))


def test_one_home_maps_equal_the_recovery_primitives():
    """viz draws and evaluation scores the same maps: channel sum (group_maps) then upsampling
    with min-max normalisation (upsample_maps) is concept_maps."""
    from jaxconcepts.concepts import group_maps, upsample_maps

    a = _acts(3)
    lab = np.array([[0, 0, 1, 1, 1, 2, 2, -1, 0, 1], [2, 2, 2, 0, -1, -1, 1, 1, 0, 3]], np.int32)
    direct = concept_maps(a, lab, n_concepts=4, size=(16, 12)).maps
    grouped = upsample_maps(group_maps(a, lab, n_groups=4), size=(16, 12))
    np.testing.assert_allclose(np.asarray(grouped), np.asarray(direct), rtol=1e-6, atol=1e-6)
