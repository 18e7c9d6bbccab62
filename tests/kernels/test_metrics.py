"""Cluster metrics: hand-computed cases, scikit-learn agreement and conventions, properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm

from jaxconcepts.kernels import cluster_metrics, silhouette_t

SK = (skm.silhouette_score, skm.calinski_harabasz_score, skm.davies_bouldin_score)


def sk_all(x, lab):
    return np.array([f(x.astype(np.float64), lab) for f in SK])


def ours(x, lab, w=None, k=6, block=(16, 32)):
    return np.array(cluster_metrics(x, lab, w, n_clusters=k, block=block), np.float64)


def test_hand_computed_two_pairs():
    # two pairs 1 apart, pair centres 10 apart
    x = np.array([[0, 0], [1, 0], [10, 0], [11, 0]], np.float32)
    lab = np.array([0, 0, 1, 1])
    s, ch, db = ours(x, lab, k=2)
    # a = 1; b = mean(10, 11) = 10.5 or mean(9, 10) = 9.5 -> s = (b - 1) / b
    np.testing.assert_allclose(s, np.mean([9.5 / 10.5, 8.5 / 9.5, 8.5 / 9.5, 9.5 / 10.5]), 1e-6)
    # B = 4 * 25 = 100, W = 4 * .25 = 1, CH = 100 * (4 - 2) / (1 * 1)
    np.testing.assert_allclose(ch, 200.0, rtol=1e-6)
    # s_i = 0.5, centroid distance 10 -> DB = 1 / 10
    np.testing.assert_allclose(db, 0.1, rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 50 + 17 * seed
    x = (rng.normal(size=(n, 4)) + rng.integers(0, 3, (n, 1)) * 2).astype(np.float32)
    lab = rng.integers(0, 5, n)
    lab[0] = 5  # a singleton cluster (silhouette 0 for it)
    lab[lab == 3] = 2  # an empty cluster id: only non-empty clusters count
    np.testing.assert_allclose(ours(x, lab), sk_all(x, lab), rtol=1e-5)


@pytest.mark.slow
def test_tiles_and_n_valid_skip_absent_tail():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 70)).astype(np.float32)
    lab = rng.integers(0, 3, 70).astype(np.int32)
    w = np.ones(70, np.float32)
    w[45:] = 0
    lab[45:] = -1
    full = silhouette_t(jnp.asarray(x), jnp.asarray(w), jnp.asarray(lab), 3, block=(128, 128))
    tiled = jax.jit(
        lambda a, b, c, nv: silhouette_t(a, b, c, 3, block=(8, 16), n_valid=nv)
    )(jnp.asarray(x), jnp.asarray(w), jnp.asarray(lab), jnp.int32(45))
    ref = skm.silhouette_score(x.T[:45].astype(np.float64), lab[:45])
    np.testing.assert_allclose([float(full), float(tiled)], [ref, ref], rtol=1e-5)


@pytest.mark.slow
def test_conventions_zero_spread_and_coincident_centroids():
    # every cluster a single repeated point: CH = 1 (zero intra), DB = 0 (zero spread), s = 1
    x = np.array([[0, 0]] * 3 + [[5, 5]] * 3, np.float32)
    lab = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(ours(x, lab, k=2), sk_all(x, lab), rtol=1e-6)
    # two clusters with the same centroid: scikit-learn ignores the pair in DB
    x = np.array([[-1, 0], [1, 0], [0, -2], [0, 2], [9, 9], [10, 9]], np.float32)
    lab = np.array([0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(ours(x, lab, k=3), sk_all(x, lab), rtol=1e-5)
    # all singletons: silhouette 0
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert ours(x, np.arange(4), k=4)[0] == 0.0


def test_fewer_than_two_clusters_gives_zeros_not_nan():
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    np.testing.assert_array_equal(ours(x, np.zeros(10, int), k=3), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ours(x, np.full(10, -1), k=3), [0.0, 0.0, 0.0])


def test_weighted_equals_repeated_points():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 8, (30, 2)).astype(np.float32)
    lab = rng.integers(0, 4, 30)
    w = rng.integers(0, 4, 30)
    w[:4] = 1  # keep every cluster non-empty
    lab[:4] = np.arange(4)
    np.testing.assert_allclose(
        ours(x, lab, w.astype(np.float32)), sk_all(np.repeat(x, w, 0), np.repeat(lab, w)),
        rtol=1e-5,
    )


@given(seed=st.integers(0, 10_000))
def test_label_permutation_and_masked_points_invariance(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    lab = rng.integers(0, 6, 40)
    w = (rng.random(40) < 0.8).astype(np.float32)
    base = ours(x, lab, w)
    perm = rng.permutation(6)
    np.testing.assert_allclose(ours(x, perm[lab], w), base, rtol=2e-5, atol=1e-6)
    # masked points: move them anywhere, the metrics do not change
    x2 = np.where(w[:, None] > 0, x, rng.normal(size=x.shape).astype(np.float32) * 50)
    np.testing.assert_allclose(ours(x2, lab, w), base, rtol=2e-5, atol=1e-6)
