import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxconcepts.concepts._c2mf import C2MF, c2mf_objective, fit_c2mf
from jaxconcepts.concepts._protocol import ConceptDecomposition

from .planted import FIT, K, RECIPES, Y, match_atoms, planted


@pytest.fixture(scope="module")
def data():
    return planted(0)


@pytest.fixture(scope="module")
def fits(data):
    A, y, _, _ = data
    return {a: fit_c2mf(A, y, K, key=jax.random.key(0), alpha=a, n_classes=Y, **FIT)
            for a in (0.0, 3.0, 30.0, 300.0)}


def test_gates_become_sparse_as_alpha_grows(fits):
    total = [float(fits[a].gates.sum()) for a in sorted(fits)]
    active = [int((fits[a].gates > 0.1).sum()) for a in sorted(fits)]
    assert all(b < a for a, b in zip(total, total[1:])), total
    assert active[0] == Y * K and active[-1] < active[0] // 2, active


def test_gates_select_the_planted_recipes(fits, data):
    _, _, _, W_true = data
    m = fits[3.0]
    cos, idx = match_atoms(m.W, W_true)
    assert np.all(cos > 0.95), cos
    gates = np.asarray(m.gates)[:, idx]  # gates in the order of the planted atoms
    np.testing.assert_array_equal(gates > 0.1, RECIPES)


def test_loss_is_monotone_ish_and_converges(fits):
    for a, m in fits.items():
        h = m.loss_history
        assert np.all(np.isfinite(h)) and h.shape == (m.n_steps,)
        assert h[-1] < 0.5 * h[0], (a, h[0], h[-1])
        # Adam is not a descent method: allow small bumps, but no sustained increase
        assert np.all(h[10:] <= 1.02 * np.minimum.accumulate(h)[10:] + 1e-3 * h[0]), a


def test_reported_loss_matches_direct_objective(fits, data):
    A, y, _, _ = data
    m = fits[3.0]
    U = m.transform(A, y)
    direct = float(c2mf_objective(A, U, y, m.W, m.logits, alpha=3.0))
    # the last history entry is the objective one step earlier; the fit is near its floor
    assert direct <= 1.05 * float(m.loss_history[-1]) + 1e-3


def test_dictionary_rows_have_fixed_norm_and_fit_is_deterministic(fits, data):
    A, y, _, _ = data
    m = fits[3.0]
    np.testing.assert_allclose(np.linalg.norm(np.asarray(m.W), axis=1), m.atom_norm, rtol=1e-4)
    again = fit_c2mf(A, y, K, key=jax.random.key(0), alpha=3.0, n_classes=Y, **FIT)
    np.testing.assert_array_equal(np.asarray(again.W), np.asarray(m.W))
    np.testing.assert_array_equal(again.loss_history, m.loss_history)


def test_transform_recovers_planted_codes(data):
    A, y, U, W = data
    rng = np.random.default_rng(1)
    logits = jnp.asarray(rng.normal(size=(Y, K)), jnp.float32)
    gates = np.asarray(jax.nn.sigmoid(logits))
    model = C2MF(jnp.asarray(W), logits, 1.0, np.zeros(0), 0, True)
    A_clean = (U * gates[y]) @ W
    U_hat = model.transform(A_clean, y)
    np.testing.assert_allclose(np.asarray(U_hat), U, atol=1e-3)
    np.testing.assert_allclose(np.asarray(model.reconstruct(U_hat, y)), A_clean, atol=1e-3)
    assert isinstance(model, ConceptDecomposition)
    assert model.concepts.shape == (Y, K, W.shape[1])


def test_fitted_reconstruction_on_held_out_rows(fits):
    A2, y2, _, W2 = planted(0, rows_seed=1)
    np.testing.assert_array_equal(W2, planted(0)[3])  # same dictionary, new rows
    assert not np.allclose(A2, planted(0)[0])
    m = fits[3.0]
    U = m.transform(A2, y2)
    rel = float(jnp.linalg.norm(A2 - m.reconstruct(U, y2)) / np.linalg.norm(A2))
    assert rel < 0.1, rel
    assert float(U.min()) >= 0 and float(U.max()) <= 1 + 1e-6


def test_minibatch_mode_decreases_the_objective(data, tmp_path):
    A, y, _, _ = data
    m = fit_c2mf(A, y, K, key=jax.random.key(0), alpha=3.0, n_classes=Y, max_steps=15,
                 batch_size=128)
    h = m.loss_history
    assert h.shape[0] <= 15 and m.n_steps == h.shape[0] * 3
    assert h[-1] < 0.5 * h[0] and np.all(np.diff(h) < 0), h
    mm = np.lib.format.open_memmap(tmp_path / "A.npy", mode="w+", dtype=np.float32, shape=A.shape)
    mm[:] = A
    m2 = fit_c2mf(mm, y, K, key=jax.random.key(0), alpha=3.0, n_classes=Y, max_steps=15,
                  batch_size=128)
    np.testing.assert_allclose(m2.loss_history, h, rtol=1e-5)


def test_nan_loss_stops_with_step_named(data):
    A, y, _, _ = data
    opt = optax.chain(optax.scale(float("nan")))
    with pytest.raises(FloatingPointError, match="non-finite at step 0"):
        fit_c2mf(A, y, K, key=jax.random.key(0), optimizer=opt, n_classes=Y, max_steps=5)


def test_bad_input_is_a_clear_error(data):
    A, y, _, _ = data
    with pytest.raises(ValueError, match=r"k=31 .*do not support"):
        fit_c2mf(A, y, 31, key=jax.random.key(0))
    with pytest.raises(ValueError, match="NaN"):
        fit_c2mf(np.where(np.arange(A.shape[1]) == 2, np.nan, A), y, K, key=jax.random.key(0))
    with pytest.raises(ValueError, match="y should"):
        fit_c2mf(A, y[:-1], K, key=jax.random.key(0))
    with pytest.raises(TypeError, match="integer"):
        fit_c2mf(A, y.astype(float), K, key=jax.random.key(0))
