import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import NMF

from jaxconcepts.kernels._nmf import nmf, nmf_error_history, nmf_init, nmf_step


def _data(seed, n=200, c=40, k=5):
    rng = np.random.default_rng(seed)
    A = np.abs(rng.normal(size=(n, k))) @ np.abs(rng.normal(size=(k, c)))
    A += 0.3 * np.abs(rng.normal(size=(n, c)))
    return A.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_relative_error_parity_with_sklearn_cd(seed):
    A = _data(seed)
    r = nmf(A, 5, key=jax.random.key(seed), max_iter=500, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = NMF(5, solver="cd", init="random", max_iter=500, tol=1e-6, random_state=seed)
        U = sk.fit_transform(A)
    sk_rel = np.linalg.norm(A - U @ sk.components_) / np.linalg.norm(A)
    ours = np.linalg.norm(A - np.asarray(r.U) @ np.asarray(r.W)) / np.linalg.norm(A)
    np.testing.assert_allclose(float(r.rel_error), ours, rtol=1e-3)  # reported error is exact
    # different starts reach different local minima: parity within 5 % of the relative error
    assert abs(ours - sk_rel) <= 0.05 * sk_rel, (ours, sk_rel)
    assert float(r.U.min()) >= 0 and float(r.W.min()) >= 0


def test_hals_sweeps_never_increase_error():
    A = jnp.asarray(_data(3))
    s = nmf_init(A, 5, key=jax.random.key(0))
    step = jax.jit(nmf_step)
    errs = []
    for _ in range(15):
        s = step(A, s)
        errs.append(float(s.sq_error))
        direct = float(jnp.sum((A - s.U @ s.W) ** 2))
        assert abs(errs[-1] - direct) <= 1e-3 * direct
    assert all(b <= a * (1 + 1e-5) for a, b in zip(errs, errs[1:])), errs


def test_exact_low_rank_is_recovered_and_deterministic():
    rng = np.random.default_rng(0)
    A = (np.abs(rng.normal(size=(200, 5))) @ np.abs(rng.normal(size=(5, 40)))).astype(np.float32)
    r1 = nmf(A, 5, key=jax.random.key(4), max_iter=1000, tol=1e-9)
    r2 = nmf(A, 5, key=jax.random.key(4), max_iter=1000, tol=1e-9)
    assert float(r1.rel_error) < 1e-2
    np.testing.assert_array_equal(np.asarray(r1.W), np.asarray(r2.W))
    assert int(r1.n_iter) <= 1000


def test_stops_at_tolerance_and_reports_convergence():
    r = nmf(_data(5), 5, key=jax.random.key(0), max_iter=500, tol=1e-3)
    assert bool(r.converged) and 1 < int(r.n_iter) < 500
    r = nmf(_data(5), 5, key=jax.random.key(0), max_iter=3, tol=0.0)
    assert int(r.n_iter) == 3 and not bool(r.converged)


def test_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        nmf(-jnp.ones((10, 4)), 2, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"k=5 .*min\(n, c\)=4"):
        nmf(jnp.ones((10, 4)), 5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="NaN"):
        nmf(jnp.full((10, 4), jnp.nan), 2, key=jax.random.key(0))


def test_nndsvda_start_is_nonnegative_and_reaches_parity():
    A = _data(0)
    r = nmf(A, 5, key=jax.random.key(0), max_iter=500, tol=1e-6, init="nndsvda")
    assert float(r.U.min()) >= 0 and float(r.W.min()) >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = NMF(5, solver="cd", init="nndsvda", max_iter=500, tol=1e-6).fit(A)
    sk_rel = np.linalg.norm(A - sk.transform(A) @ sk.components_) / np.linalg.norm(A)
    assert abs(float(r.rel_error) - sk_rel) <= 0.05 * sk_rel
    with pytest.raises(ValueError, match="init="):
        nmf(A, 5, key=jax.random.key(0), init="svd")


def _numpy_hals_sweep(A, U, W, inner=1):
    """Textbook HALS in float64 on U (n, k) with column updates: the reference for the transposed
    fori-loop implementation."""
    A, U, W = (np.asarray(x, np.float64) for x in (A, U, W))
    U, W = U.copy(), W.copy()
    k = W.shape[0]
    UtA, UtU = U.T @ A, U.T @ U
    for _ in range(inner):
        for j in range(k):
            W[j] = np.maximum(W[j] + (UtA[j] - UtU[j] @ W) / UtU[j, j], 0)
    AWt, WWt = A @ W.T, W @ W.T
    for _ in range(inner):
        for j in range(k):
            U[:, j] = np.maximum(U[:, j] + (AWt[:, j] - U @ WWt[:, j]) / WWt[j, j], 0)
    return U, W


@pytest.mark.slow
@pytest.mark.parametrize("inner", [1, 3])
def test_step_and_plain_solver_match_numpy_hals(inner):
    A = _data(7, n=60, c=12, k=4)
    s0 = nmf_init(jnp.asarray(A), 4, key=jax.random.key(1))
    U, W = np.asarray(s0.U), np.asarray(s0.W)
    s = s0
    for _ in range(4):
        U, W = _numpy_hals_sweep(A, U, W, inner)
        s = nmf_step(jnp.asarray(A), s, inner=inner)
        np.testing.assert_allclose(np.asarray(s.U), U, rtol=2e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(s.W), W, rtol=2e-4, atol=1e-5)
    # the solver without extrapolation is the same sweep (transposed codes inside)
    r = nmf(A, 4, key=jax.random.key(1), max_iter=4, tol=0.0, inner=inner, extrapolation=0.0)
    assert int(r.n_iter) == 4
    np.testing.assert_allclose(np.asarray(r.U), U, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(r.W), W, rtol=2e-4, atol=1e-5)
    rel = np.linalg.norm(A - U @ W) / np.linalg.norm(A)
    np.testing.assert_allclose(float(r.rel_error), rel, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("extrapolation", [0.0, 0.5, 1.0])
def test_error_history_is_non_increasing_and_matches_the_solver(extrapolation):
    A = _data(2)
    key = jax.random.key(3)
    res, hist = nmf_error_history(A, 5, key=key, n_sweeps=40, inner=4,
                                  extrapolation=extrapolation)
    hist = np.asarray(hist)
    assert hist.shape == (40,)
    assert np.all(np.diff(hist) <= 0), hist  # accepted sweeps only: exactly monotone
    for s in (1, 7, 25):
        r = nmf(A, 5, key=key, max_iter=s, tol=0.0, inner=4, extrapolation=extrapolation)
        assert float(r.rel_error) == hist[s - 1]  # same sweeps, same stopping rule
        exact = np.linalg.norm(A - np.asarray(r.U) @ np.asarray(r.W)) / np.linalg.norm(A)
        np.testing.assert_allclose(exact, hist[s - 1], rtol=1e-3)
        assert float(r.U.min()) >= 0 and float(r.W.min()) >= 0
    np.testing.assert_allclose(float(res.rel_error), hist[-1], rtol=1e-6)
    _, again = nmf_error_history(A, 5, key=key, n_sweeps=40, inner=4, extrapolation=extrapolation)
    np.testing.assert_array_equal(np.asarray(again), hist)  # deterministic for a key


def test_extrapolation_reaches_the_plain_error_in_fewer_sweeps():
    A = _data(4, n=400, c=60, k=6)
    key = jax.random.key(0)
    _, plain = nmf_error_history(A, 6, key=key, n_sweeps=150, inner=1, extrapolation=0.0)
    _, extra = nmf_error_history(A, 6, key=key, n_sweeps=150, inner=1, extrapolation=0.5)
    plain, extra = np.asarray(plain), np.asarray(extra)
    target = plain[-1] * (1 + 1e-4)
    assert np.argmax(extra <= target) + 1 < 0.8 * (np.argmax(plain <= target) + 1)


@pytest.mark.slow
def test_rejected_extrapolation_keeps_the_factors():
    from jaxconcepts.kernels._nmf import _init_carry, _sweep

    A = jnp.asarray(_data(1))
    norm_a2 = jnp.vdot(A, A)
    s = _init_carry(A, 5, jax.random.key(0), "random", 1.0)
    tol = jnp.float32(0)
    seen_reject = False
    for _ in range(60):
        nxt = _sweep(A, norm_a2, s, tol, 1)
        if bool(nxt.restart):  # rejected: nothing moves, the error is kept, next sweep is plain
            seen_reject = True
            np.testing.assert_array_equal(np.asarray(nxt.Ut), np.asarray(s.Ut))
            np.testing.assert_array_equal(np.asarray(nxt.W), np.asarray(s.W))
            assert float(nxt.sq_error) == float(s.sq_error) and float(nxt.beta) < float(s.beta)
        else:
            assert float(nxt.sq_error) <= float(s.sq_error)
        s = nxt
    assert seen_reject  # β = 1 overshoots at some point on this problem


def test_bad_extrapolation_and_history_args():
    A = _data(0)
    with pytest.raises(ValueError, match="extrapolation="):
        nmf(A, 5, key=jax.random.key(0), extrapolation=1.5)
    with pytest.raises(ValueError, match="n_sweeps="):
        nmf_error_history(A, 5, key=jax.random.key(0), n_sweeps=0)


def test_numpy_input_aliased_or_copied_gives_the_same_result():
    A = _data(6)
    buf = np.empty(A.nbytes + 64, np.uint8)
    off = (-buf.ctypes.data) % 64
    aligned = buf[off:off + A.nbytes].view(np.float32).reshape(A.shape)  # zero-copy candidate
    aligned[...] = A
    key = jax.random.key(2)
    ref = nmf(jnp.asarray(A), 5, key=key, max_iter=30)
    for X in (A, aligned, A.astype(np.float64)):
        r = nmf(X, 5, key=key, max_iter=30)
        np.testing.assert_array_equal(np.asarray(r.W), np.asarray(ref.W))
    W = np.asarray(nmf(aligned, 5, key=key, max_iter=30).W)
    aligned[...] = 0.0  # the caller's buffer is free again once nmf returns
    np.testing.assert_array_equal(W, np.asarray(ref.W))
    bad = A.copy()
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        nmf(bad, 5, key=key)
