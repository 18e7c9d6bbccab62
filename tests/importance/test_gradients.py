"""Grad-CAM and Integrated Gradients on C2MF codes: completeness and the linear-head closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.importance import code_importance
from tests.evaluation.c2mf.test_metrics import P, _setup


@pytest.mark.slow
def test_gradcam_and_ig_on_a_linear_head():
    model, h, U, _ = _setup()
    recon = lambda V, c: model.reconstruct(V, jnp.full((V.shape[0],), c))  # noqa: E731
    Ui = jnp.asarray(U[:P])
    gc = code_importance(Ui, 1, 2, recon, h, method="gradcam", n_steps=16)
    ig = code_importance(Ui, 1, 2, recon, h, method="ig", n_steps=16)
    z = lambda V: h(recon(V, 1))[2]  # noqa: E731
    # completeness of IG: Σ_j IG_j = z(U) − z(0)
    np.testing.assert_allclose(float(ig.sum()), float(z(Ui) - z(jnp.zeros_like(Ui))), rtol=1e-4,
                               atol=1e-5)
    # linear head: Grad-CAM weight is constant over rows, importance = w_j · mean U_j
    g = jax.grad(z)(Ui)
    np.testing.assert_allclose(np.asarray(gc), np.asarray(g.mean(0) * Ui.mean(0)), rtol=1e-5)
    with pytest.raises(ValueError, match="method"):
        code_importance(Ui, 1, 2, recon, h, method="shap", n_steps=16)
