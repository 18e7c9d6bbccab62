"""CGAP / CPHA: batch independence, the CPHA grid trick, flags, sub-concepts, validation."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.decomposition import PCA

from jaxconcepts.concepts import FLAG_ALL_ZERO, FLAG_FEW_CONCEPTS, cgap, cpha

from tests.concepts.conftest import KW, C, H, W, kw



@pytest.mark.slow
@pytest.mark.parametrize("method", [cgap, cpha])
def test_labels_identical_across_batch_sizes(method, acts, key):
    full = method(acts, key=key, index=np.arange(10, 14), **kw(method))
    # batches of 2, and the images in another order and batch position
    parts = [method(acts[i:i + 2], key=key, index=np.arange(10 + i, 12 + i), **kw(method))
             for i in (0, 2)]
    swapped = method(acts[[3, 0]], key=key, index=np.array([13, 10]), **kw(method))
    for f in ("labels", "sub_labels", "n_concepts", "flags"):
        a = np.asarray(getattr(full, f))
        np.testing.assert_array_equal(a, np.concatenate([np.asarray(getattr(p, f)) for p in parts]))
        np.testing.assert_array_equal(a[[3, 0]], np.asarray(getattr(swapped, f)))
    np.testing.assert_allclose(np.asarray(full.metrics)[[3, 0]], np.asarray(swapped.metrics),
                               rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", [cgap, cpha])
def test_output_contract_and_metrics_match_sklearn(method, acts, key):
    r = method(acts, key=key, **kw(method))
    live = (acts != 0).any((2, 3))
    lab, sub = np.asarray(r.labels), np.asarray(r.sub_labels)
    assert lab.shape == sub.shape == (4, C) and lab.dtype == np.int32
    np.testing.assert_array_equal(lab < 0, ~live)
    np.testing.assert_array_equal(sub < 0, ~live)
    assert sub.max() < 2 and lab.max() < 3
    found = [len(np.unique(row[row >= 0])) for row in lab]
    np.testing.assert_array_equal(np.asarray(r.n_concepts), found)
    for b in range(4):
        x = acts[b].reshape(C, -1)[live[b]]
        if method is cgap:
            pts = PCA(2, svd_solver="full").fit_transform(x.astype(np.float64))
        else:
            idx = x.argmax(1)
            pts = np.stack([idx // W, idx % W], 1).astype(np.float64)
        want = [f(pts, lab[b][live[b]]) for f in (skm.silhouette_score,
                skm.calinski_harabasz_score, skm.davies_bouldin_score)]
        np.testing.assert_allclose(np.asarray(r.metrics[b]), want, rtol=2e-4)
        # concepts numbered by decreasing size
        sizes = np.bincount(lab[b][live[b]], minlength=3)
        assert np.all(np.diff(sizes) <= 0)


@pytest.mark.slow
@pytest.mark.parametrize("method", [cgap, cpha])
def test_all_zero_and_too_few_channels_are_flagged(method, key):
    a = np.zeros((4, C, H, W), np.float32)
    a[1, :2] = 1.0  # two identical live channels: one concept
    r = method(a, key=key, **kw(method))
    assert np.all(np.isfinite(np.asarray(r.metrics)))
    np.testing.assert_array_equal(np.asarray(r.n_concepts), [0, 1, 0, 0])
    assert np.asarray(r.flags)[0] == FLAG_ALL_ZERO | FLAG_FEW_CONCEPTS
    assert np.asarray(r.flags)[1] == FLAG_FEW_CONCEPTS
    assert np.all(np.asarray(r.labels)[0] == -1)
    np.testing.assert_array_equal(np.asarray(r.labels)[1, :3], [0, 0, -1])
    np.testing.assert_array_equal(np.asarray(r.metrics), 0.0)


@pytest.mark.slow
def test_channel_permutation_and_mask(acts, key):
    """Well-separated concepts: the same partition whatever the channel order; a mask drops
    channels exactly like zeroing them."""
    perm = np.random.default_rng(0).permutation(C)
    for method in (cgap, cpha):
        a = method(acts, key=key, **kw(method))
        b = method(acts[:, perm], key=key, **kw(method))
        for i in range(4):
            la, lb = np.asarray(a.labels[i])[perm], np.asarray(b.labels[i])
            assert skm.adjusted_rand_score(la[la >= 0], lb[lb >= 0]) == 1.0
    mask = np.ones((4, C), bool)
    mask[:, ::3] = False
    zeroed = acts.copy()
    zeroed[:, ::3] = 0
    m = cgap(acts, mask, key=key, **KW)
    z = cgap(zeroed, key=key, **KW)
    np.testing.assert_array_equal(np.asarray(m.labels), np.asarray(z.labels))


def test_validation_names_the_argument(acts, key):
    with pytest.raises(ValueError, match=r"A should have shape \(B, C, H, W\)"):
        cgap(acts[0], key=key)
    with pytest.raises(ValueError, match="n_concepts=1"):
        cpha(acts, key=key, n_concepts=1)
    with pytest.raises(ValueError, match="mask should have shape"):
        cgap(acts, np.ones((4, 3), bool), key=key)
    with pytest.raises(TypeError, match="mask should be a bool"):
        cgap(acts, np.ones((4, C)), key=key)
    with pytest.raises(ValueError, match="n_components"):
        cgap(acts, key=key, n_components=H * W + 1)
    with pytest.raises(ValueError, match="key is required"):
        cpha(acts, key=None)
    with pytest.raises(ValueError, match="n_sub_concepts=1"):
        cpha(acts, key=key, n_sub_concepts=1)


@pytest.mark.slow
def test_cgap_buckets_do_not_change_the_result(acts, key):
    """The padded size bucket an image lands in only changes float summation order."""
    from jaxconcepts.concepts._cgap import bucket_sizes

    assert bucket_sizes(48, 8) == (8, 16, 24, 32, 40, 48)
    assert bucket_sizes(2048, 4) == (512, 1024, 1536, 2048)
    assert bucket_sizes(10, 3) == (8, 10)
    one = cgap(acts, key=key, n_buckets=1, **KW)
    # 8 buckets; and 2 buckets, each cut again inside at multiples of 8 rows above its floor
    for other in (cgap(acts, key=key, n_buckets=8, **KW),
                  cgap(acts, key=key, n_buckets=2, block=(32, 16), **KW)):
        for f in ("labels", "sub_labels", "n_concepts", "flags"):
            np.testing.assert_array_equal(np.asarray(getattr(one, f)),
                                          np.asarray(getattr(other, f)))
        np.testing.assert_allclose(np.asarray(one.metrics), np.asarray(other.metrics), rtol=1e-4)
        np.testing.assert_allclose(np.asarray(one.inertia), np.asarray(other.inertia), rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("method", [cgap, cpha])
def test_no_recompile_for_other_live_counts_max_iter_or_tol(method, acts, key):
    """One compiled program serves every batch of a shape: other live-channel counts (other
    buckets), max_iter and tol are traced; max_iter still takes effect."""
    from jaxconcepts.concepts import cgap_batch, cpha_batch

    jitted = cgap_batch if method is cgap else cpha_batch
    method(acts, key=key, **kw(method))
    before = jitted._cache_size()
    sparse = acts.copy()
    sparse[:, : C // 2] = 0  # fewer live channels: a smaller bucket for CGAP
    method(sparse, key=key, **kw(method))
    short = method(acts, key=key, max_iter=1, tol=0.0, **kw(method))
    full = method(acts, key=key, max_iter=300, tol=1e-6, **kw(method))
    assert jitted._cache_size() == before
    assert np.all(np.asarray(full.inertia) <= np.asarray(short.inertia) * (1 + 1e-5))


def test_cgap_takes_no_vmap_group(acts, key):
    """Images run one at a time in CGAP (each in its live channels' padded size): no ``group``."""
    with pytest.raises(TypeError, match="group"):
        cgap(acts, key=key, group=2, **KW)
