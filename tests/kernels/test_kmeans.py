"""k-means kernel: toy cases, scikit-learn agreement, masks/weights, jit, properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from jaxconcepts.kernels import assign_t, kmeans, kmeans_plusplus_t, kmeans_t, lloyd_t, point_hash_t
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_distribution_close_to_sklearn():
    """Over many random starts: inertia and ARI as close to scikit-learn as it is to itself."""
    ours, sk_b = [], []
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


@pytest.mark.slow
def test_fewer_distinct_points_than_k(key):
    x = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [1, 1]], np.float32)
    r = kmeans(x, n_clusters=4, key=key, n_init=2)
    assert int(r.n_clusters) == 2
    assert np.all(np.isfinite(np.asarray(r.centers)))
    assert float(r.inertia) == 0.0
    lab = np.asarray(r.labels)
    assert lab[0] == lab[1] and lab[2] == lab[3] == lab[4] and lab[0] != lab[2]


@pytest.mark.slow
def test_all_absent_is_finite(key):
    x = np.ones((6, 2), np.float32)
    r = kmeans(x, np.zeros(6, bool), n_clusters=3, key=key)
    assert np.all(np.asarray(r.labels) == -1)
    assert int(r.n_clusters) == 0 and float(r.inertia) == 0.0
    assert np.all(np.isfinite(np.asarray(r.centers)))


@pytest.mark.slow
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


@pytest.mark.slow
def test_max_iter_and_tol_are_traced(key):
    """Another max_iter / tol reuses the compiled program, and still takes effect."""
    x, _ = blobs(5, n=200, k=6, d=3, spread=3.0)
    kmeans(x, n_clusters=6, key=key, max_iter=300, tol=1e-4)
    before = _kmeans_jit._cache_size()
    one = kmeans(x, n_clusters=6, key=key, max_iter=1, tol=0.0)
    loose = kmeans(x, n_clusters=6, key=key, max_iter=300, tol=1e3)
    full = kmeans(x, n_clusters=6, key=key, max_iter=300, tol=0.0)
    assert _kmeans_jit._cache_size() == before
    assert int(one.n_iter) == 1 and int(loose.n_iter) == 1
    assert int(full.n_iter) > 1
    assert float(full.inertia) <= float(one.inertia) + 1e-3


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
    with pytest.raises(ValueError, match="ties='random'; valid choices"):
        kmeans(x, n_clusters=2, key=key, ties="random")


@pytest.mark.slow
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


_update_jit = jax.jit(_update_centers)


def _sklearn_m_step(x, labels, centers_old, k):
    """scikit-learn's M-step on unit-weight points: sums, empty-cluster relocation, averages."""
    from sklearn.cluster._k_means_common import _relocate_empty_clusters_dense

    sw = np.ones(len(x))
    wic = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.stack([np.bincount(labels, weights=x[:, d], minlength=k) for d in range(2)], 1)
    _relocate_empty_clusters_dense(x, sw, centers_old, sums, wic, labels.astype(np.int32))
    if np.any(wic <= 0):  # a cluster emptied by the relocation: see the next test instead
        return None
    return sums / wic[:, None]


@given(seed=st.integers(0, 10_000))
def test_relocation_moves_single_points_like_sklearn_on_repeated_points(seed):
    """On a weighted grid, empty clusters take one unit of weight each from the farthest
    positions (several may come from one position), as scikit-learn does on the raw points."""
    rng = np.random.default_rng(seed)
    k, n = 4, 8
    pos = rng.choice(36, n, replace=False)
    x = np.stack([pos // 6, pos % 6], 1).astype(np.float64)
    w = rng.integers(1, 4, n)
    n_used = int(rng.integers(1, 3))  # clusters in use; the others are empty
    labels = rng.integers(0, n_used, n)
    centers_old = rng.normal(size=(k, 2)) * 3 + 2.5
    mind = ((x - centers_old[labels]) ** 2).sum(1)
    if len(np.unique(mind)) < n:  # scikit-learn breaks exact distance ties arbitrarily
        return
    new = np.asarray(_update_jit(jnp.asarray(x.T, jnp.float32), jnp.asarray(w, jnp.float32),
                                 jnp.asarray(labels, jnp.int32), jnp.asarray(mind, jnp.float32),
                                 jnp.asarray(centers_old, jnp.float32)))
    want = _sklearn_m_step(np.repeat(x, w, 0), np.repeat(labels, w), centers_old, k)
    if want is None:
        return
    used = np.unique(labels)
    moved = np.setdiff1d(np.arange(k), used)
    np.testing.assert_allclose(new[used], want[used], rtol=1e-5, atol=1e-5)
    # scikit-learn hands the far points to the empty clusters in no particular order
    np.testing.assert_allclose(np.sort(new[moved], 0), np.sort(want[moved], 0), atol=1e-5)


def test_relocation_hand_computed():
    # one cluster holds every point; 3 empty clusters take the 3 unit points at (9, 0)
    x = np.array([[0, 0], [1, 0], [2, 0], [9, 0], [6, 0]], np.float32)
    w = np.array([2, 1, 1, 3, 1], np.float32)
    lab = np.zeros(5, np.int32)
    c_old = np.zeros((4, 2), np.float32)
    mind = (x ** 2).sum(1)
    new = np.asarray(_update_jit(jnp.asarray(x.T), jnp.asarray(w), jnp.asarray(lab),
                                 jnp.asarray(mind), jnp.asarray(c_old)))
    np.testing.assert_allclose(new, [[9 / 5, 0], [9, 0], [9, 0], [9, 0]], rtol=1e-6)
    # mask weights (0/1): whole points, the farthest first
    w01 = np.array([1, 1, 1, 1, 0], np.float32)
    new = np.asarray(_update_jit(jnp.asarray(x.T), jnp.asarray(w01), jnp.asarray(lab),
                                 jnp.asarray(mind), jnp.asarray(c_old)))
    np.testing.assert_allclose(new, [[0, 0], [9, 0], [2, 0], [1, 0]], atol=1e-6)


def test_no_relocation_when_every_point_is_on_its_centre():
    # fewer distinct points than K: nothing to move; the empty cluster sits on the heaviest one
    x = np.array([[0, 0], [3, 0]], np.float32)
    w = np.array([1, 2], np.float32)
    lab = np.array([0, 1], np.int32)
    c_old = np.array([[0, 0], [3, 0], [7, 7]], np.float32)
    new = np.asarray(_update_jit(jnp.asarray(x.T), jnp.asarray(w), jnp.asarray(lab),
                                 jnp.zeros(2), jnp.asarray(c_old)))
    np.testing.assert_allclose(new, [[0, 0], [3, 0], [3, 0]])


@pytest.mark.slow
def test_hashed_ties_split_per_point_without_index_preference():
    y = np.arange(400, dtype=np.float32)
    c = jnp.asarray([[-1.0, 0.0], [1.0, 0.0]])
    for shift in (0.0, 3.0, 1000.0):  # every point equidistant from both centres
        xt = jnp.asarray(np.stack([np.full_like(y, shift), y]))
        c_s = c + jnp.asarray([shift, 0.0])
        lab_first, _ = assign_t(xt, c_s)
        assert np.all(np.asarray(lab_first) == 0)
        lab, d = assign_t(xt, c_s, point_hash_t(xt))
        np.testing.assert_allclose(np.asarray(d), 1.0 + y ** 2)
        assert 0.4 < np.mean(np.asarray(lab) == 0) < 0.6
    # a fixed function of the coordinates: coincident points go together, the same centres in
    # another order give the same partition, coincident centres resolve to the lowest index
    xt2 = jnp.concatenate([xt, xt], axis=1)
    lab2, _ = assign_t(xt2, c_s, point_hash_t(xt2))
    np.testing.assert_array_equal(np.asarray(lab2)[:400], np.asarray(lab2)[400:])
    lab_r, _ = assign_t(xt, c_s[::-1], point_hash_t(xt))
    np.testing.assert_array_equal(1 - np.asarray(lab_r), np.asarray(lab))
    c3 = jnp.asarray([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]]) + jnp.asarray([shift, 0.0])
    lab3, _ = assign_t(xt, c3, point_hash_t(xt))
    assert not np.any(np.asarray(lab3) == 1) and np.any(np.asarray(lab3) == 2)


_kmeans_t_jit = jax.jit(lambda x, w, k: kmeans_t(x, w, k, n_clusters=3, n_init=2))


@pytest.mark.slow
@given(seed=st.integers(0, 10_000))
def test_weighted_grid_equals_repeated_points_with_ties(seed):
    """kmeans_t on a small integer grid with integer weights (many exact ties, empty clusters,
    sometimes fewer distinct points than K) == kmeans_t on the repeated points, same key."""
    rng = np.random.default_rng(seed)
    g = np.stack(np.divmod(np.arange(12), 3)).astype(np.float32)  # 4 x 3 grid, (2, 12)
    w = rng.integers(0, 5, 12) * (rng.random(12) < rng.uniform(0.2, 1.0))
    w[rng.integers(12)] += 1
    raw = np.repeat(g, w, axis=1)
    xr = np.zeros((2, 60), np.float32)  # fixed shape: absent padding at the end
    xr[:, :raw.shape[1]] = raw
    wr = (np.arange(60) < raw.shape[1]).astype(np.float32)
    key = jax.random.key(seed)
    a = _kmeans_t_jit(jnp.asarray(g), jnp.asarray(w, jnp.float32), key)
    b = _kmeans_t_jit(jnp.asarray(xr), jnp.asarray(wr), key)
    lab_a = np.repeat(np.asarray(a.labels), w)
    np.testing.assert_array_equal(lab_a, np.asarray(b.labels)[:raw.shape[1]])
    np.testing.assert_allclose(float(a.inertia), float(b.inertia), rtol=1e-5, atol=1e-5)
    assert int(a.n_clusters) == int(b.n_clusters) == min(3, int(np.sum(w > 0)))


@pytest.mark.slow
@pytest.mark.parametrize("ties", ["first", "hash"])
def test_sequential_restarts_equal_vmapped(ties):
    """``sequential=True`` (restarts one after the other) keeps the same restart: same labels,
    centres and inertia as the vmapped restarts, on blobs where restarts do differ."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(c, 1.0, (60, 3)) for c in (0.0, 2.5, 5.0, 7.5)])
    w = (rng.random(len(x)) < 0.8).astype(np.float32)
    xt, wj = jnp.asarray(x.T, jnp.float32), jnp.asarray(w)
    for seed in range(4):
        key = jax.random.key(seed)
        a, b = (jax.jit(lambda xt, w, k, s=s: kmeans_t(xt, w, k, n_clusters=5, n_init=4, ties=ties,
                                                       sequential=s))(xt, wj, key)
                for s in (False, True))
        np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))
        np.testing.assert_allclose(np.asarray(a.centers), np.asarray(b.centers), rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(float(a.inertia), float(b.inertia), rtol=1e-5)
        assert int(a.n_iter) == int(b.n_iter)


@pytest.mark.slow
def test_vmap_of_one_and_of_many_equal_unbatched_inside_jit():
    # guards the M-step's form: a broadcast-multiply-reduce variant gave every feature the first
    # feature's sum under a size-1 vmap of the Lloyd loop (XLA CPU, jax 0.10.2)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 600)).astype(np.float32) + rng.integers(0, 3, 600) * 2)
    w = jnp.zeros(600).at[:400].set(1.0)
    keys = jax.random.split(jax.random.key(3), 3)

    def run(k):
        return kmeans_t(x, w, k, n_clusters=5, ties="first").centers

    want = np.stack([np.asarray(jax.jit(run)(k)) for k in keys])
    np.testing.assert_allclose(jax.jit(jax.vmap(run))(keys[:1])[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.vmap(run))(keys), want, rtol=1e-5)
