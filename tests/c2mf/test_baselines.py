import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import PCA

from jaxconcepts.concepts._craft import (
    craft_activations,
    craft_importance,
    fit_craft,
    qmc_masks,
    random_crops,
    sobol_total_indices,
)
from jaxconcepts.concepts._pca_baseline import fit_pca_baseline
from jaxconcepts.concepts._protocol import ConceptDecomposition

from .planted import K, Y, planted


def test_pca_matches_sklearn_per_class():
    A, y, _, _ = planted(0, noise=0.05)
    m = fit_pca_baseline(A, y, 3)
    assert isinstance(m, ConceptDecomposition)
    for cls in range(Y):
        sk = PCA(3).fit(A[y == cls])
        np.testing.assert_allclose(np.abs(np.asarray(m.W[cls]) @ sk.components_.T), np.eye(3),
                                   atol=1e-3)
        np.testing.assert_allclose(np.asarray(m.explained_variance[cls]),
                                   sk.explained_variance_, rtol=1e-3)
    U = m.transform(A, y)
    ours = np.asarray(m.reconstruct(U, y))
    ref = np.concatenate([PCA(3).fit(A[y == c]).inverse_transform(PCA(3).fit(A[y == c]).transform(
        A[y == c])) for c in range(Y)])
    order = np.concatenate([np.flatnonzero(y == c) for c in range(Y)])
    np.testing.assert_allclose(ours[order], ref, atol=1e-4)


def test_pca_k_too_large_is_a_clear_error():
    A, y, _, _ = planted(0)
    with pytest.raises(ValueError, match=r"k=31 .*class 0"):
        fit_pca_baseline(A, y, 31)


def test_craft_per_class_nmf_and_transform():
    A, y, _, _ = planted(1, signed=False)
    A = np.maximum(A, 0)
    m = fit_craft(A, y, K, key=jax.random.key(0), max_iter=300)
    assert isinstance(m, ConceptDecomposition)
    assert m.W.shape == (Y, K, A.shape[1]) and float(m.W.min()) >= 0
    assert np.all(m.rel_error < 0.1), m.rel_error
    U = m.transform(A, y)
    rel = float(jnp.linalg.norm(A - m.reconstruct(U, y)) / np.linalg.norm(A))
    assert rel < 0.1 and float(U.min()) >= 0
    with pytest.raises(ValueError, match="fewer than k crops"):
        fit_craft(A[:10], y[:10], 8, key=jax.random.key(0))
    with pytest.raises(ValueError, match="non-negative"):
        fit_craft(A - 1.0, y, K, key=jax.random.key(0))


def test_random_crops_and_activations_shapes():
    imgs = jnp.arange(2 * 3 * 8 * 8, dtype=jnp.float32).reshape(2, 3, 8, 8)
    crops = random_crops(imgs, key=jax.random.key(0), n_crops=4, crop_fraction=0.5)
    assert crops.shape == (8, 3, 8, 8)
    # a crop of a constant image is that constant
    const = random_crops(jnp.ones((1, 3, 8, 8)), key=jax.random.key(1), n_crops=2)
    np.testing.assert_allclose(np.asarray(const), 1.0, atol=1e-6)
    acts = craft_activations(imgs, lambda b: np.asarray(b)[:, :, :2, :2] * 0 + 1.0,
                             key=jax.random.key(0), n_crops=3, batch_size=4)
    assert acts.shape == (6, 3) and np.allclose(acts, 1.0)


def test_qmc_masks_in_unit_cube_and_low_discrepancy():
    P = np.asarray(qmc_masks(jax.random.key(0), 256, 6))
    assert P.shape == (256, 6) and P.min() >= 0 and P.max() < 1
    np.testing.assert_allclose(P.mean(0), 0.5, atol=0.02)


def test_sobol_total_indices_of_a_linear_score():
    # f(m) = Σ_i m_i u_i (W_i · v): additive, so S_T,i = β_i² / Σ β² exactly (m_i ~ U(0, 1))
    rng = np.random.default_rng(0)
    k, c = 4, 10
    W = jnp.asarray(np.abs(rng.normal(size=(k, c))), jnp.float32)
    v = jnp.asarray(rng.normal(size=(c,)), jnp.float32)
    codes = jnp.asarray(np.abs(rng.normal(size=(3, k))), jnp.float32)
    st = sobol_total_indices(codes, W, lambda x: x @ v, key=jax.random.key(0), n_designs=512)
    beta = np.asarray(codes) * np.asarray(W @ v)[None]
    expected = (beta**2 / (beta**2).sum(1, keepdims=True)).mean(0)
    np.testing.assert_allclose(np.asarray(st), expected, atol=0.03)
    # a concept that does not reach the score has index 0; a constant score gives zeros
    st0 = sobol_total_indices(codes.at[:, 0].set(0.0), W, lambda x: x @ v, key=jax.random.key(0))
    assert abs(float(st0[0])) < 1e-6
    stc = sobol_total_indices(codes, W, lambda x: jnp.zeros(x.shape[0]), key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(stc), 0.0)


def test_craft_importance_per_class():
    A, y, _, _ = planted(1, signed=False)
    A = np.maximum(A, 0)
    m = fit_craft(A, y, K, key=jax.random.key(0), max_iter=100)
    head = jnp.asarray(np.random.default_rng(0).normal(size=(Y, A.shape[1])), jnp.float32)
    imp = craft_importance(m, A, y, lambda x, cl: x @ head[cl], key=jax.random.key(0))
    assert imp.shape == (Y, K) and bool(jnp.all(jnp.isfinite(imp))) and float(imp.min()) >= -1e-6
