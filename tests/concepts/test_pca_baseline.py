"""PCA baseline: per-class PCA matches sklearn; k too large is a clear error."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from jaxconcepts.concepts._pca_baseline import fit_pca_baseline
from jaxconcepts.concepts._protocol import ConceptDecomposition

from tests.planted import Y, planted


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
