"""SemiNMF and the k-means dictionary: protocol, hand-made cases, monotone error, recovery."""

import jax
import numpy as np
import pytest

from jaxconcepts.concepts._protocol import ConceptDecomposition
from jaxconcepts.sae import explained_variance, mcc
from jaxconcepts.sae._dictionaries import fit_kmeans_dictionary, fit_seminmf


def test_seminmf_exact_on_a_planted_product():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 12))  # signed atoms
    U = np.abs(rng.standard_normal((300, 4))) * (rng.random((300, 4)) < 0.3)
    A = (U @ W).astype(np.float32)
    runs = [fit_seminmf(A, 4, key=jax.random.key(s), max_iter=300) for s in range(3)]
    m = runs[0]
    assert isinstance(m, ConceptDecomposition)
    assert m.concepts.shape == (1, 4, 12)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(m.W), axis=1), 1.0, rtol=1e-5)
    h = m.error_history
    assert (np.diff(h) <= 1e-5 * h[0]).all()  # monotone (Ding et al., Theorem 1), float32 noise
    assert max(r.error_history[-1] for r in runs) < 0.02
    # SemiNMF is not identifiable in general and has local optima: measured MCC 1.00, 0.96,
    # 0.77 for keys 0-2 on this product (all at < 0.2 % error); the best restart finds W
    scores = [mcc(r.W, W) for r in runs]
    assert max(scores) > 0.99 and min(scores) > 0.7, scores
    Uh = m.transform(A[:50], np.zeros(50, np.int32))
    assert (np.asarray(Uh) >= 0).all()
    assert explained_variance(A[:50], m.reconstruct(Uh)) > 0.99


def test_kmeans_dictionary_codes_are_one_hot_projections():
    rng = np.random.default_rng(1)
    centers = 5.0 * np.eye(3, 6)
    lab = rng.integers(0, 3, 600)
    A = (centers[lab] + 0.1 * rng.standard_normal((600, 6))).astype(np.float32)
    m = fit_kmeans_dictionary(A, 3, key=jax.random.key(0))
    assert isinstance(m, ConceptDecomposition) and m.concepts.shape == (1, 3, 6)
    assert mcc(m.W, centers) > 0.999
    U = np.asarray(m.transform(A))
    assert ((U > 0).sum(1) == 1).all()
    j = U.argmax(1)
    np.testing.assert_allclose(U[np.arange(600), j], np.sum(A * np.asarray(m.W)[j], 1),
                               rtol=1e-5)
    assert (np.diff(m.inertia_history) <= 1e-3).all()  # Lloyd never increases the inertia


@pytest.mark.parametrize("fit", [fit_seminmf, fit_kmeans_dictionary])
def test_bad_input_raises(fit):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"k=0 should be in \[1, n_rows=5\]"):
        fit(np.ones((5, 3), np.float32), 0, key=key)
    with pytest.raises(ValueError, match="NaN"):
        fit(np.full((5, 3), np.nan, np.float32), 2, key=key)
