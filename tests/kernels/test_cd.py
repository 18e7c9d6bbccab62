"""The box coordinate-descent step every solver shares (kernels/_cd.py)."""

import jax.numpy as jnp
import numpy as np

from jaxconcepts.kernels import box_step, hals_sweeps, nnls_gram


def test_box_step_is_the_clipped_newton_step_and_projects_at_zero_curvature():
    x = jnp.asarray([0.5, 0.5, 0.5, 2.0])
    r = jnp.asarray([1.0, -4.0, 1.0, 0.0])
    d = jnp.asarray([2.0, 2.0, 0.0, 0.0])
    np.testing.assert_array_equal(box_step(x, r, d), [1.0, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(box_step(x, r, d, 1.0), [1.0, 0.0, 0.5, 1.0])


def test_gated_boxed_sweeps_solve_every_column_like_nnls_gram():
    """Each column of X is its own problem: many sweeps reach nnls_gram's KKT point."""
    rng = np.random.default_rng(0)
    k, m = 5, 7
    W = rng.normal(size=(k, 12)).astype(np.float32)
    G = jnp.asarray(W @ W.T)
    B = jnp.asarray(rng.normal(size=(k, m)).astype(np.float32) * 3)
    s = jnp.asarray(rng.uniform(0.2, 1.0, size=(k, m)).astype(np.float32))
    X = hals_sweeps(jnp.zeros((k, m)), G, B, 500, scale=s, upper=1.0)
    for j in range(m):
        u, _, viol = nnls_gram(B[:, j], G, scale=s[:, j], upper=1.0, max_iter=500, tol=1e-7)
        np.testing.assert_allclose(X[:, j], u, atol=1e-5)
    assert float(jnp.min(X)) >= 0.0 and float(jnp.max(X)) <= 1.0
