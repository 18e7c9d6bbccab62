"""Exact top-k PCA components (the per-class PCA baseline's): numpy SVD agreement, zero padding."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.kernels._pca import top_components


@pytest.mark.parametrize("m, c", [(6, 20), (40, 12)])  # wide (Gram X Xᵀ) and tall (Xᵀ X)
def test_top_components_match_numpy_svd(m, c):
    rng = np.random.default_rng(m)
    X = rng.normal(size=(m, c)) * np.linspace(3, 0.5, c)
    X -= X.mean(0)
    k = 3
    vt, s = top_components(jnp.asarray(X, jnp.float32), k=k)
    _, s_ref, vt_ref = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(np.asarray(s), s_ref[:k], rtol=1e-4)
    np.testing.assert_allclose(np.abs(np.asarray(vt) @ vt_ref[:k].T), np.eye(k), atol=1e-4)
    # zero rows (the bucket padding) change neither components nor values
    pad = np.concatenate([X, np.zeros((5, c))])
    vt2, s2 = top_components(jnp.asarray(pad, jnp.float32), k=k)
    np.testing.assert_allclose(np.abs(np.asarray(vt2) @ np.asarray(vt).T), np.eye(k), atol=1e-4)
    np.testing.assert_allclose(np.asarray(s2), np.asarray(s), rtol=1e-4)
