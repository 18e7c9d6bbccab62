"""The ConceptDecomposition protocol across the fitted baselines (CRAFT, PCA)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts._craft import fit_craft
from jaxconcepts.concepts._pca_baseline import fit_pca_baseline

from tests.planted import Y, planted


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
