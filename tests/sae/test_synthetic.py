"""The SynthSAEBench-style generator: atoms, Zipfian firing, hierarchy, the store writer."""

import numpy as np
import pytest

from jaxconcepts.sae import feature_model, synthetic_features, write_feature_store


def test_shapes_norms_and_rows():
    d = synthetic_features(3000, dim=8, n_features=20, seed=0, noise=0.0)
    assert d.A.shape == (3000, 8) and d.W.shape == (20, 8) and d.U.shape == (3000, 20)
    np.testing.assert_allclose(np.linalg.norm(d.W, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(d.A, d.U @ d.W, rtol=1e-5, atol=1e-5)  # no noise: exact
    assert (d.U >= 0).all()


def test_zipfian_rates_and_mean_active():
    d = synthetic_features(20000, dim=8, n_features=40, seed=1, zipf=1.0, mean_active=4.0)
    rate = (d.U > 0).mean(0)
    assert rate.sum() == pytest.approx(4.0, rel=0.05)  # magnitudes can clip to 0, rarely
    np.testing.assert_allclose(rate[:5], d.p[:5], rtol=0.1)
    assert d.p[0] / d.p[9] == pytest.approx(10.0)  # p_j ∝ 1/(j+1)


def test_hierarchy_child_fires_only_with_parent():
    d = synthetic_features(20000, dim=8, n_features=40, seed=2, hierarchy=0.25,
                           magnitude_std=0.0)
    kids = np.flatnonzero(d.parent >= 0)
    assert kids.size == 10 and (d.parent[kids] < 20).all() and (kids >= 20).all()
    fire = d.U > 0
    assert not (fire[:, kids] & ~fire[:, d.parent[kids]]).any()
    np.testing.assert_allclose(fire[:, kids].mean(0), d.p[kids], atol=0.01)


def test_deterministic_and_bad_settings():
    a = synthetic_features(100, dim=4, n_features=6, seed=5)
    b = synthetic_features(100, dim=4, n_features=6, seed=5)
    np.testing.assert_array_equal(a.A, b.A)
    with pytest.raises(ValueError, match="mean_active"):
        feature_model(dim=4, n_features=6, seed=0, mean_active=7)
    with pytest.raises(ValueError, match="hierarchy"):
        feature_model(dim=4, n_features=6, seed=0, hierarchy=0.9)


def test_store_round_trip(tmp_path):
    from jaxconcepts.store import RowsView

    write_feature_store(tmp_path, n_images=10, hw=(2, 3), dim=8, n_features=6, seed=0,
                        images_per_shard=4, noise=0.0)
    rows = RowsView(tmp_path, images_per_batch=4, prefetch=0)
    assert rows.n_rows == 60 and rows.channels == 8 and len(rows.files) == 3
    A = np.concatenate([b.A.reshape(-1, 8)[np.repeat(b.valid, 6)] for b in rows])
    W = np.load(tmp_path / "truth.npz")["W"]
    np.testing.assert_allclose(W, feature_model(dim=8, n_features=6, seed=0)[0])
    # noiseless rows lie in the 6-D span of the true atoms (in 8 dims): least squares is exact
    U, *_ = np.linalg.lstsq(W.T, A.T, rcond=None)
    np.testing.assert_allclose(U.T @ W, A, atol=1e-4)
    assert np.abs(A).sum(1).min() >= 0 and np.abs(A).max() > 0.5
