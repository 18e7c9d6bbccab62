"""k-means kernel: toy cases, scikit-learn agreement, masks/weights, jit, properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from jaxconcepts.kernels import assign_t, kmeans, kmeans_plusplus_t, lloyd_t
from jaxconcepts.kernels._kmeans import _kmeans_jit, _update_centers

_lloyd_jit = jax.jit(lloyd_t, static_argnames=("max_iter", "tol"))
_kpp_jit = jax.jit(lambda x, w, k: kmeans_plusplus_t(x, w, k, 4))


@jax.jit
def _step_jit(x, w, c):
    """One Lloyd step: (new centres, inertia of the old centres)."""
    lab, mind = assign_t(x, c)
    return _update_centers(x, w, lab, mind, c), jnp.sum(w * mind)


def blobs(seed, n=60, k=3, d=2, spread=0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 5
    lab = rng.integers(0, k, n)
    return (centers[lab] + spread * rng.normal(size=(n, d))).astype(np.float32), lab


def test_toy_two_groups_hand_computed(key):
    x = np.array([[0, 0], [0, 1], [10, 0], [10, 1]], np.float32)
    r = kmeans(x, n_clusters=2, key=key)
    lab = np.asarray(r.labels)
    assert lab[0] == lab[1] and lab[2] == lab[3] and lab[0] != lab[2]
    # centres (0, .5) and (10, .5): inertia = 4 * 0.25
    np.testing.assert_allclose(float(r.inertia), 1.0, rtol=1e-6)
    assert int(r.n_clusters) == 2


def test_same_init_matches_sklearn_exactly():
    x, _ = blobs(1, n=200, k=4, d=3, spread=1.5)
    init = x[[0, 5, 10, 15]]
    sk = KMeans(4, init=init, n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").fit(x)
    lab, cen, inertia, _ = jax.jit(lloyd_t)(jnp.asarray(x.T), jnp.ones(200), jnp.asarray(init))
    np.testing.assert_array_equal(np.asarray(lab), sk.labels_)
    np.testing.assert_allclose(np.asarray(cen), sk.cluster_centers_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(inertia), sk.inertia_, rtol=1e-4)


def test_distribution_close_to_sklearn():
    """Over many random starts: inertia and ARI as close to scikit-learn as it is to itself."""
    ours, sk_a, sk_b = [], [], []
    for s in range(12):
        x, _ = blobs(100 + s, n=150, k=5, d=4, spread=2.5)
        r = kmeans(x, n_clusters=5, key=jax.random.key(s), n_init=3)
        a = KMeans(5, n_init=3, random_state=s).fit(x)
        b = KMeans(5, n_init=3, random_state=1000 + s).fit(x)
        ours.append((float(r.inertia) / a.inertia_, adjusted_rand_score(a.labels_, r.labels)))
        sk_b.append((b.inertia_ / a.inertia_, adjusted_rand_score(a.labels_, b.labels_)))
    ours, sk_b = np.array(ours), np.array(sk_b)
    assert abs(ours[:, 0].mean() - sk_b[:, 0].mean()) < 0.02
    assert ours[:, 1].mean() >= sk_b[:, 1].mean() - 0.05


def test_weighted_equals_repeated(key):
    x, _ = blobs(2, n=30, k=3)
    w = np.random.default_rng(0).integers(1, 4, 30)
    init = x[[0, 1, 2]]
    lab_w, _, in_w, _ = _lloyd_jit(jnp.asarray(x.T), jnp.asarray(w, jnp.float32), jnp.asarray(init))
    xr = np.repeat(x, w, axis=0)
    lab_r, _, in_r, _ = _lloyd_jit(jnp.asarray(xr.T), jnp.ones(len(xr)), jnp.asarray(init))
    np.testing.assert_array_equal(np.repeat(np.asarray(lab_w), w), np.asarray(lab_r))
    np.testing.assert_allclose(float(in_w), float(in_r), rtol=1e-5)


def test_fewer_distinct_points_than_k(key):
    x = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [1, 1]], np.float32)
    r = kmeans(x, n_clusters=4, key=key, n_init=2)
    assert int(r.n_clusters) == 2
    assert np.all(np.isfinite(np.asarray(r.centers)))
    assert float(r.inertia) == 0.0
    lab = np.asarray(r.labels)
    assert lab[0] == lab[1] and lab[2] == lab[3] == lab[4] and lab[0] != lab[2]


def test_all_absent_is_finite(key):
    x = np.ones((6, 2), np.float32)
    r = kmeans(x, np.zeros(6, bool), n_clusters=3, key=key)
    assert np.all(np.asarray(r.labels) == -1)
    assert int(r.n_clusters) == 0 and float(r.inertia) == 0.0
    assert np.all(np.isfinite(np.asarray(r.centers)))


def test_jit_equals_eager_and_no_retrace(key):
    x, _ = blobs(3, n=12, k=3)
    jitted = kmeans(x, n_clusters=3, key=key, max_iter=4)
    with jax.disable_jit():
        eager = kmeans(x, n_clusters=3, key=key, max_iter=4)
    np.testing.assert_array_equal(np.asarray(jitted.labels), np.asarray(eager.labels))
    np.testing.assert_allclose(float(jitted.inertia), float(eager.inertia), rtol=1e-5)
    before = _kmeans_jit._cache_size()
    kmeans(x + 1.0, n_clusters=3, key=jax.random.key(7), max_iter=4)
    assert _kmeans_jit._cache_size() == before


def test_validation_errors(key):
    x = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(x, n_clusters=0, key=key)
    with pytest.raises(ValueError, match="weights"):
        kmeans(x, np.ones(4), n_clusters=2, key=key)
    with pytest.raises(ValueError, match="weights should be >= 0"):
        kmeans(x, -np.ones(5), n_clusters=2, key=key)
    with pytest.raises(TypeError, match="x should be a floating"):
        kmeans(np.zeros((5, 2), np.int32), n_clusters=2, key=key)
    with pytest.raises(ValueError, match=r"shape \(n, D\)"):
        kmeans(np.zeros(5, np.float32), n_clusters=2, key=key)


@given(seed=st.integers(0, 10_000))
def test_masked_points_never_change_the_result(seed):
    n_pad = 6  # fixed shape: one compilation; junk values and positions vary
    x, _ = blobs(seed % 50, n=24, k=3)
    rng = np.random.default_rng(seed)
    junk = rng.normal(size=(n_pad, 2)).astype(np.float32) * 100
    pos = np.sort(rng.choice(24 + n_pad, n_pad, replace=False))
    keep = np.setdiff1d(np.arange(24 + n_pad), pos)
    xx = np.empty((24 + n_pad, 2), np.float32)
    xx[keep], xx[pos] = x, junk
    w = np.ones(24 + n_pad, bool)
    w[pos] = False
    k = jax.random.key(seed)
    a = kmeans(x, n_clusters=3, key=k, n_init=2)
    b = kmeans(xx, w, n_clusters=3, key=k, n_init=2)
    np.testing.assert_array_equal(np.asarray(b.labels)[keep], np.asarray(a.labels))
    assert np.all(np.asarray(b.labels)[pos] == -1)
    np.testing.assert_allclose(float(a.inertia), float(b.inertia), rtol=1e-5)


@given(seed=st.integers(0, 10_000))
def test_inertia_non_increasing_over_lloyd_steps(seed):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(2, 40)).astype(np.float32))
    w = jnp.asarray(rng.integers(0, 3, 40).astype(np.float32))
    c = _kpp_jit(x, w, jax.random.key(seed))
    inertia = []
    for _ in range(5):  # one Lloyd step at a time, one compilation
        c, obj = _step_jit(x, w, c)
        inertia.append(float(obj))
    assert all(b <= a * (1 + 1e-5) + 1e-6 for a, b in zip(inertia, inertia[1:]))
