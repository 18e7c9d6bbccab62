import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.optimize import nnls as scipy_nnls

from jaxconcepts.kernels._nnls import nnls, nnls_gram


def _problem(seed, n=40, c=12, k=4):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, c)).astype(np.float32)
    U = np.abs(rng.normal(size=(n, k))).astype(np.float32)
    U[rng.uniform(size=U.shape) < 0.4] = 0.0
    return U @ W, W, U


def test_hand_computed_one_coordinate():
    # W = [[2, 0]], a = [3, 5] -> u = (W a) / (W Wᵀ) = 6 / 4; a = [-3, 1] -> u = 0
    r = nnls(jnp.array([[3.0, 5.0], [-3.0, 1.0]]), jnp.array([[2.0, 0.0]]))
    np.testing.assert_allclose(np.asarray(r.codes), [[1.5], [0.0]], atol=1e-6)


def test_recovers_planted_codes():
    A, W, U = _problem(0)
    r = nnls(A, W, tol=1e-7, max_iter=500)
    np.testing.assert_allclose(np.asarray(r.codes), U, atol=2e-4)


@given(st.integers(0, 10_000))
def test_matches_scipy_nnls(seed):
    A, W, _ = _problem(seed)
    # noise makes the fit inexact, so the non-negativity constraints bind
    A = A + np.random.default_rng(seed + 1).normal(size=A.shape).astype(np.float32)
    r = nnls(A, W, tol=1e-7, max_iter=500)
    ref = np.stack([scipy_nnls(W.T.astype(np.float64), a.astype(np.float64))[0] for a in A])
    obj = lambda U: np.sum((A - U @ W) ** 2, axis=1)  # noqa: E731
    np.testing.assert_allclose(obj(np.asarray(r.codes, np.float64)), obj(ref), rtol=1e-4, atol=1e-4)
    assert np.all(np.asarray(r.codes) >= 0)


def test_box_upper_bound_and_warm_start():
    A, W, U = _problem(1)
    r = nnls(2.0 * A, W, upper=1.0)
    assert float(r.codes.max()) <= 1.0 + 1e-6 and float(r.codes.min()) >= 0.0
    r2 = nnls(A, W, codes0=jnp.asarray(U), max_iter=1, tol=0.0)  # starting at the optimum stays
    np.testing.assert_allclose(np.asarray(r2.codes), U, atol=1e-4)


@pytest.mark.slow
def test_vmappable_over_problems_and_jit_equals_eager():
    A, W, _ = _problem(2)
    G, B = W @ W.T, A @ W.T
    batched = jax.vmap(lambda b: nnls_gram(b, G, tol=1e-7, max_iter=300)[0])(jnp.asarray(B))
    eager = jnp.stack([nnls_gram(jnp.asarray(b), jnp.asarray(G), tol=1e-7, max_iter=300)[0]
                       for b in B[:1]])
    np.testing.assert_allclose(np.asarray(batched[:1]), np.asarray(eager), atol=1e-5)
    # a batch of independent dictionaries
    Ws = jnp.stack([jnp.asarray(W), 2 * jnp.asarray(W)])
    def codes(w):
        return jax.vmap(lambda a: nnls_gram(w @ a, w @ w.T, tol=1e-7, max_iter=300)[0])(
            jnp.asarray(A))

    out = jax.vmap(codes)(Ws)
    np.testing.assert_allclose(np.asarray(out[0]), 2 * np.asarray(out[1]), atol=1e-3)


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match=r"A.shape\[1\]=3 .* W.shape\[1\]=4"):
        nnls(jnp.ones((5, 3)), jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="max_iter"):
        nnls(jnp.ones((5, 3)), jnp.ones((2, 3)), max_iter=0)
