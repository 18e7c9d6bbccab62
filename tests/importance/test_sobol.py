"""CRAFT's Sobol total indices: the scrambled Sobol design, Jansen's estimator, additive scores."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts._craft import fit_craft
from jaxconcepts.importance import class_logit_importance, craft_importance, qmc_masks
from jaxconcepts.importance import sobol_total_indices
from tests.planted import K, Y, planted


def test_qmc_masks_are_a_stratified_sobol_net():
    n, d = 256, 6
    P = np.asarray(qmc_masks(jax.random.key(0), n, d))
    assert P.shape == (n, d) and P.min() >= 0 and P.max() < 1
    # a scrambled base-2 Sobol net of 2^m points has exactly one point in each [i/n, (i+1)/n) of
    # every coordinate (pseudo-random points almost never do)
    for j in range(d):
        np.testing.assert_array_equal(np.sort(np.floor(P[:, j] * n)), np.arange(n))
    # seeded by the key
    np.testing.assert_array_equal(P, np.asarray(qmc_masks(jax.random.key(0), n, d)))
    assert not np.array_equal(P, np.asarray(qmc_masks(jax.random.key(1), n, d)))


def test_qmc_masks_reject_a_count_that_breaks_the_balance():
    with pytest.raises(ValueError, match="n_designs=30 should be a power of two"):
        qmc_masks(jax.random.key(0), 30, 4)


@pytest.mark.slow
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
    st0 = sobol_total_indices(codes.at[:, 0].set(0.0), W, lambda x: x @ v, key=jax.random.key(0),
                              n_designs=32)
    assert abs(float(st0[0])) < 1e-6
    stc = sobol_total_indices(codes, W, lambda x: jnp.zeros(x.shape[0]), key=jax.random.key(0),
                              n_designs=32)
    np.testing.assert_array_equal(np.asarray(stc), 0.0)


@pytest.mark.slow
def test_craft_importance_per_class_and_class_logit_rows():
    A, y, _, _ = planted(1, signed=False)
    A = np.maximum(A, 0)
    m = fit_craft(A, y, K, key=jax.random.key(0), max_iter=100)
    head = jnp.asarray(np.random.default_rng(0).normal(size=(Y, A.shape[1])), jnp.float32)
    imp = craft_importance(m, A, y, lambda x, cl: x @ head[cl], key=jax.random.key(0),
                           n_designs=32)
    assert imp.shape == (Y, K) and bool(jnp.all(jnp.isfinite(imp))) and float(imp.min()) >= -1e-6

    class Head:  # store classes 5.. map to fitted classes 0..Y-1
        weight = jnp.concatenate([jnp.zeros((5, A.shape[1])), head])
        bias = jnp.zeros(5 + Y)

    imp2 = class_logit_importance(m, A, y, Head, np.arange(5, 5 + Y), key=jax.random.key(0),
                                  n_designs=32)
    np.testing.assert_allclose(imp2, np.asarray(imp), rtol=1e-5, atol=1e-6)
