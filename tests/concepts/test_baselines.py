import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import PCA

from jaxconcepts.concepts._craft import fit_craft
from jaxconcepts.concepts._pca_baseline import fit_pca_baseline
from jaxconcepts.concepts._protocol import ConceptDecomposition

from tests.planted import K, Y, planted


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


@pytest.mark.slow
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
        fit_craft(A[:10], y[:10], 8, key=jax.random.key(0), max_iter=10)
    with pytest.raises(ValueError, match="non-negative"):
        fit_craft(A - 1.0, y, K, key=jax.random.key(0), max_iter=10)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["craft", "pca"])
def test_fitted_models_are_pytrees_one_compile_per_shape(which):
    """Two fits of the same shape share one compiled evaluation (the model is a traced argument)."""
    import equinox as eqx

    A, y, _, _ = planted(1, signed=False)
    A = np.maximum(A, 0)
    fit = ((lambda s: fit_craft(A, y, 3, key=jax.random.key(s), max_iter=20)) if which == "craft"
           else (lambda s: fit_pca_baseline(A + 0.01 * s, y, 3)))
    m1, m2 = fit(0), fit(1)
    assert isinstance(m1, eqx.Module) and len(jax.tree_util.tree_leaves(m1)) >= 2
    traces = []

    @eqx.filter_jit
    def recon_norm(model, U, yy):
        traces.append(1)
        return jnp.linalg.norm(model.reconstruct(U, yy))

    U = jnp.ones((5, 3))
    yy = jnp.arange(5) % Y
    r1, r2 = recon_norm(m1, U, yy), recon_norm(m2, U, yy)
    assert len(traces) == 1 and float(r1) != float(r2)
    np.testing.assert_allclose(float(r1), float(jnp.linalg.norm(m1.reconstruct(U, yy))), rtol=1e-6)
