"""The size switch's prefix sizes, and the floor that leaves out sizes a caller never needs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.kernels import pca_fit, prefix_sizes, silhouette_t


def test_prefix_sizes_steps_doubling_and_floor():
    assert prefix_sizes(100, 32) == (32, 64, 96, 100)
    assert prefix_sizes(100, 32, floor=32) == (64, 96, 100)
    assert prefix_sizes(100, 32, floor=96) == (100,)
    assert prefix_sizes(100, 32, floor=100) == (100,)  # the full size always stays
    assert prefix_sizes(600, 64, doubling=True) == (64, 128, 256, 512, 600)
    assert prefix_sizes(600, 64, doubling=True, floor=200) == (256, 512, 600)


@pytest.mark.slow
@pytest.mark.parametrize("floor", [0, 16, 40, 64])
def test_floor_changes_nothing_but_the_compiled_sizes(floor):
    # 45 of 70 points present; a floor at or above the count is still correct (the next size
    # up holds the points), only slower
    rng = np.random.default_rng(5)
    x = rng.normal(size=(70, 4)).astype(np.float32)
    w = np.zeros(70, np.float32)
    w[:45] = 1
    lab = np.where(w > 0, rng.integers(0, 3, 70), -1).astype(np.int32)
    xt, wj, lj = jnp.asarray(x.T), jnp.asarray(w), jnp.asarray(lab)
    sil = jax.jit(lambda a, b, c: silhouette_t(a, b, c, 3, block=(8, 16), floor=floor))
    np.testing.assert_allclose(float(sil(xt, wj, lj)),
                               float(silhouette_t(xt, wj, lj, 3, block=(8, 16))), rtol=1e-6)
    fit = jax.jit(lambda a, b: pca_fit(a, b, 2, n_rows=jnp.int32(45), step=8, floor=floor))
    ref = pca_fit(jnp.asarray(x), wj, 2)
    for got, want in zip(fit(jnp.asarray(x), wj), ref):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)
