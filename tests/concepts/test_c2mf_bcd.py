"""C2MF's block coordinate descent (concepts/_c2mf_bcd.py): each block step does not increase
the objective."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.planted import K, Y, planted


@pytest.fixture(scope="module")
def data():
    return planted(0)


def _direct(A, U, y, W, logits, alpha):
    """Eq. 11 in float64 NumPy."""
    A, U, W = (np.asarray(x, np.float64) for x in (A, U, W))
    g = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
    R = A - (U * g[y]) @ W
    return float(np.sum(R * R) + alpha * g.sum())


@pytest.mark.slow
def test_each_block_step_does_not_increase_the_objective(data):
    """Codes (box CD), gates (optax steps + safeguard) and dictionary rows (exact on the sphere),
    each checked against the objective evaluated directly, from random feasible points."""
    from jaxconcepts.concepts import _c2mf_bcd as bcd

    A, y, _, _ = data
    alpha = 3.0
    lay = bcd.make_layout(y, Y)
    Ap = jnp.asarray(bcd.gather_rows(A, lay.idx))
    cid = jnp.asarray(lay.cid)
    rows = lay.idx.reshape(-1)
    yp = np.repeat(lay.cid, lay.ch)
    rng = np.random.default_rng(0)
    opt = bcd.default_gate_optimizer(0.05)
    for trial in range(3):
        W = rng.normal(size=(K, A.shape[1]))
        W = jnp.asarray(1.3 * W / np.linalg.norm(W, axis=1, keepdims=True), jnp.float32)
        lam = jnp.asarray(rng.normal(size=(Y, K)), jnp.float32)
        Ut = jnp.asarray(rng.uniform(size=(K, cid.shape[0], lay.ch)) * (rows >= 0).reshape(
            1, -1, lay.ch), jnp.float32)

        def obj(Ut, W, lam):
            U = np.asarray(Ut).reshape(K, -1).T
            return _direct(np.asarray(Ap), U, yp, W, lam, alpha)

        L0 = obj(Ut, W, lam)
        Ut, P, cvec = bcd.codes_and_class_stats(Ap, Ut, cid, W, lam, 1)
        L1 = obj(Ut, W, lam)
        G = W @ W.T
        lam2, _, finite = bcd.gate_step(lam, opt.init(lam), P, cvec, G, alpha, optimizer=opt,
                                        gate_steps=10)
        L2 = obj(Ut, W, lam2)
        S = bcd.effective_cross(Ap, Ut, cid, lam2)
        Q = bcd.effective_gram(P, jax.nn.sigmoid(lam2))
        W2 = bcd.dictionary_sweeps(W, S, Q, jnp.float32(1.3), 3)
        L3 = obj(Ut, W2, lam2)
        assert bool(finite)
        assert L1 <= L0 * (1 + 1e-6) and L2 <= L1 * (1 + 1e-6) and L3 <= L2 * (1 + 1e-6), \
            (trial, L0, L1, L2, L3)
        assert L3 < L0
        np.testing.assert_allclose(np.linalg.norm(np.asarray(W2), axis=1), 1.3, rtol=1e-5)
        # the gated Gram-form objective matches the direct one
        Lg = float(bcd.objective_from_stats(jnp.vdot(Ap, Ap), S, Q, W2, lam2, alpha))
        np.testing.assert_allclose(Lg, L3, rtol=1e-4)
