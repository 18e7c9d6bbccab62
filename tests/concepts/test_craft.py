"""CRAFT: per-class NMF, transform and reconstruct."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts._craft import fit_craft
from jaxconcepts.concepts._protocol import ConceptDecomposition

from tests.planted import K, Y, planted


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
