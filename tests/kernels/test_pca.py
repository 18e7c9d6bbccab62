"""Masked PCA: agreement with scikit-learn (subspace up to sign), masks, orthonormality."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

from jaxconcepts.kernels import pca


def data(seed, n=300, f=64):
    rng = np.random.default_rng(seed)
    # a decaying spectrum, like activations (the first components well separated)
    scale = 3.0 * 0.7 ** np.arange(f) + 0.01
    return (rng.normal(size=(n, f)) * scale + rng.normal(size=f)).astype(np.float32)


@pytest.mark.parametrize("f", [16, 64])  # 16: LAPACK eigh; 64: subspace iteration
def test_matches_sklearn(f):
    x = data(0, f=f)
    ours = pca(x, n_components=4)
    sk = PCA(4, svd_solver="full").fit(x.astype(np.float64))
    np.testing.assert_allclose(np.asarray(ours.components), sk.components_, atol=2e-4)
    np.testing.assert_allclose(np.asarray(ours.explained_variance), sk.explained_variance_,
                               rtol=1e-4)
    np.testing.assert_allclose(np.asarray(ours.explained_variance_ratio),
                               sk.explained_variance_ratio_, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(ours.scores_t).T, sk.transform(x), atol=2e-3)


def test_sign_convention():
    comps = np.asarray(pca(data(1), n_components=3).components)
    idx = np.abs(comps).argmax(1)
    assert np.all(comps[np.arange(3), idx] > 0)


@pytest.mark.slow
@given(seed=st.integers(0, 10_000))
# each mask compiles its own x[mask] shape: 2/5 of the profile's examples (ci: 8 masks, not 20)
@settings(max_examples=max(1, settings.default.max_examples * 2 // 5))
def test_masked_rows_do_not_count_and_components_orthonormal(seed):
    x = data(seed % 97, n=80)
    rng = np.random.default_rng(seed)
    mask = rng.random(80) < 0.7
    junk = np.where(mask[:, None], x, rng.normal(size=x.shape).astype(np.float32) * 100)
    a = pca(junk, mask, n_components=4)
    b = pca(x[mask], n_components=4)
    np.testing.assert_allclose(np.asarray(a.components), np.asarray(b.components), atol=1e-4)
    c = np.asarray(a.components)
    np.testing.assert_allclose(c @ c.T, np.eye(4), atol=1e-5)
    assert np.all(np.asarray(a.scores_t)[:, ~mask] == 0)


def test_validation():
    with pytest.raises(ValueError, match="n_components"):
        pca(np.zeros((5, 3), np.float32), n_components=4)
    with pytest.raises(ValueError, match="mask"):
        pca(np.zeros((5, 3), np.float32), np.ones(4, bool), n_components=2)


@pytest.mark.slow
def test_n_rows_cut_equals_the_full_covariance():
    # compacted input: 300 present rows then 212 absent ones; steps of 128: the product takes
    # 384 rows (84 absent ones inside, weighted 0; the other 128 cut off)
    import jax
    import jax.numpy as jnp

    from jaxconcepts.kernels import pca_fit

    rng = np.random.default_rng(5)
    x = rng.normal(size=(512, 64)).astype(np.float32) * rng.uniform(0.2, 3.0, 64)
    x[300:] = rng.normal(size=(212, 64)) * 100  # absent rows: any values
    w = np.zeros(512, np.float32)
    w[:300] = 1.0
    full = pca_fit(jnp.asarray(x), jnp.asarray(w), 4)
    fit = jax.jit(lambda a, b, n: pca_fit(a, b, 4, n_rows=n, step=128))
    tiled = fit(jnp.asarray(x), jnp.asarray(w), jnp.int32(300))
    for a, b in zip(full, tiled):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=1e-5)
