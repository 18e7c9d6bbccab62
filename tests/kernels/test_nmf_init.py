"""NMF starts (jaxconcepts/kernels/_nmf_init.py)."""

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.decomposition._nmf import _initialize_nmf

from jaxconcepts.kernels._nmf_init import NMFState, nmf_init, nmf_init_nndsvda


def _data(n=60, c=20, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return (np.abs(rng.normal(size=(n, k))) @ np.abs(rng.normal(size=(k, c)))).astype(np.float32)


def test_random_start_shapes_scale_and_determinism():
    A = jnp.asarray(_data())
    s = nmf_init(A, 4, key=jax.random.key(0))
    assert isinstance(s, NMFState)
    assert s.U.shape == (60, 4) and s.W.shape == (4, 20) and s.U.dtype == jnp.float32
    assert int(s.n_iter) == 0 and np.isinf(float(s.sq_error)) and np.isinf(float(s.prev_sq_error))
    assert float(s.U.min()) >= 0 and float(s.W.min()) >= 0
    # entries are |N(0,1)| * sqrt(mean(A)/k): their mean is sqrt(2/pi) * sqrt(mean(A)/k)
    scale = np.sqrt(float(A.mean()) / 4) * np.sqrt(2 / np.pi)
    np.testing.assert_allclose(float(s.U.mean()), scale, rtol=0.2)
    again = nmf_init(A, 4, key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(s.U), np.asarray(again.U))
    other = nmf_init(A, 4, key=jax.random.key(1))
    assert not np.array_equal(np.asarray(s.U), np.asarray(other.U))


def test_nndsvda_matches_scikit_learn():
    rng = np.random.default_rng(0)
    A = _data() + 0.1 * np.abs(rng.normal(size=(60, 20))).astype(np.float32)
    s = nmf_init_nndsvda(jnp.asarray(A), 3, key=jax.random.key(0))
    assert s.U.shape == (60, 3) and s.W.shape == (3, 20) and int(s.n_iter) == 0
    assert float(s.U.min()) > 0 and float(s.W.min()) > 0  # zeros are filled with mean(A)
    U, W = _initialize_nmf(A.astype(np.float64), 3, init="nndsvda", random_state=0)
    np.testing.assert_allclose(np.asarray(s.U), U, atol=1e-4)
    np.testing.assert_allclose(np.asarray(s.W), W, atol=1e-4)


def test_nndsvda_rank_one_is_the_leading_singular_pair():
    A = _data(k=1)
    s = nmf_init_nndsvda(jnp.asarray(A), 1, key=jax.random.key(2))
    np.testing.assert_allclose(np.asarray(s.U) @ np.asarray(s.W), A, rtol=1e-3, atol=1e-4)
