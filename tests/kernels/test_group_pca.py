"""group_pca_scores_t: every group's PCA at once equals one masked PCA per group, and scikit-learn
on each group's rows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import PCA

from jaxconcepts.kernels import group_pca_scores_t, pca_fit, pca_transform_t


def groups_data(seed, n=301, f=64, g=4):
    rng = np.random.default_rng(seed)
    scale = 3.0 * 0.7 ** np.arange(f) + 0.01
    x = (rng.normal(size=(n, f)) * scale + 5.0 + rng.normal(size=f)).astype(np.float32)
    labels = rng.choice(g, n, p=[0.55, 0.3, 0.1, 0.05]).astype(np.int32)
    labels[rng.random(n) < 0.1] = -1  # absent rows
    w = (rng.random(n) < 0.9).astype(np.float32)  # dead rows inside groups
    return x, w, labels


@pytest.mark.slow
@pytest.mark.parametrize("f,tile", [(64, 16), (64, 64), (16, 32)])  # subspace iteration / eigh
def test_equals_one_masked_pca_per_group(f, tile):
    x, w, labels = groups_data(0, f=f)
    labels[labels == 3] = -1  # group 3 empty
    k = 2
    got = jax.jit(lambda x, w, l: group_pca_scores_t(x, w, l, 4, k, tile=tile))(x, w, labels)
    want = np.zeros((k, len(x)), np.float32)
    for g in range(4):
        wg = jnp.where(labels == g, w, 0.0)
        comps, mean, _, _ = pca_fit(jnp.asarray(x), wg, k)
        want += np.asarray(pca_transform_t(jnp.asarray(x), wg, comps, mean))
    scale = np.abs(want).max()
    np.testing.assert_allclose(np.asarray(got), want, atol=2e-5 * scale)
    absent = (labels < 0) | (w == 0)
    assert np.all(np.asarray(got)[:, absent] == 0)


@pytest.mark.slow
def test_matches_sklearn_per_group():
    x, w, labels = groups_data(1)
    got = np.asarray(group_pca_scores_t(jnp.asarray(x), jnp.asarray(w), jnp.asarray(labels), 4,
                                        2))
    for g in range(4):
        rows = (labels == g) & (w > 0)
        sk = PCA(2, svd_solver="full").fit(x[rows].astype(np.float64))
        ref = sk.transform(x[rows].astype(np.float64))
        # sign convention: scikit-learn's svd_flip on the components, as pca_fit
        np.testing.assert_allclose(got[:, rows].T, ref, atol=2e-3 * np.abs(ref).max())
