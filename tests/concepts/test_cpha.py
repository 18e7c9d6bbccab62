"""CPHA: the weighted position grid equals k-means on the raw coordinates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from jaxconcepts.concepts import cpha
from jaxconcepts.kernels import kmeans_t

from tests.concepts.conftest import C, W, kw


@pytest.mark.slow
def test_cpha_grid_equals_raw_points(acts, key):
    """k-means on the weighted grid == k-means on the C raw coordinates (sorted by position)."""
    r = cpha(acts, key=key, **kw(cpha))  # sub-concepts do not touch the main labels
    a = acts[0].reshape(C, -1)
    live = (a != 0).any(1)
    idx = a.argmax(1)[live]
    order = np.argsort(idx, kind="stable")
    pts = np.stack([idx // W, idx % W]).astype(np.float32)[:, order]
    image_key = jax.random.split(jax.random.fold_in(key, 0))[0]
    raw = jax.jit(lambda p, w, k: kmeans_t(p, w, k, n_clusters=3))(
        jnp.asarray(pts), jnp.ones(pts.shape[1]), image_key)
    raw_lab = np.empty(len(idx), int)
    raw_lab[order] = np.asarray(raw.labels)
    ours = np.asarray(r.labels[0])[live]
    assert skm.adjusted_rand_score(raw_lab, ours) == 1.0
    np.testing.assert_allclose(float(r.inertia[0]), float(raw.inertia), rtol=1e-5)
