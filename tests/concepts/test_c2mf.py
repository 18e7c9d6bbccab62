import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxconcepts.concepts._c2mf import C2MF, c2mf_objective, fit_c2mf
from jaxconcepts.concepts._protocol import ConceptDecomposition

from tests.planted import FIT, K, RECIPES, Y, match_atoms, planted


@pytest.fixture(scope="module")
def data():
    return planted(0)


@pytest.fixture(scope="module")
def fits(data):
    A, y, _, _ = data
    return {a: fit_c2mf(A, y, K, key=jax.random.key(0), alpha=a, n_classes=Y, **FIT)
            for a in (0.0, 0.01, 0.1, 1.0)}


@pytest.mark.slow
def test_gates_become_sparse_as_alpha_grows(fits):
    total = [float(fits[a].gates.sum()) for a in sorted(fits)]
    active = [int((fits[a].gates > 0.1).sum()) for a in sorted(fits)]
    assert all(b < a for a, b in zip(total, total[1:])), total
    assert active[0] == Y * K and active[-1] < active[0] // 2, active


@pytest.mark.slow
def test_gates_select_the_planted_recipes(fits, data):
    _, _, _, W_true = data
    m = fits[0.01]
    cos, idx = match_atoms(m.W, W_true)
    assert np.all(cos > 0.95), cos
    gates = np.asarray(m.gates)[:, idx]  # gates in the order of the planted atoms
    np.testing.assert_array_equal(gates > 0.1, RECIPES)


def test_loss_is_monotone_and_converges(fits, data):
    A = data[0].astype(np.float64)
    normA2 = float(np.sum(A * A))
    for a, m in fits.items():
        h = m.loss_history.astype(np.float64)
        assert np.all(np.isfinite(h)) and h.shape == (m.n_steps,)
        assert h[-1] < 0.5 * h[0], (a, h[0], h[-1])
        # every block step is exact or safeguarded: the objective never increases, up to the
        # float32 rounding of its Gram form (relative to ‖A‖²)
        assert np.all(np.diff(h) <= 2e-6 * normA2), (a, np.max(np.diff(h)) / normA2)
        assert m.converged and m.n_steps < FIT["max_steps"], (a, m.n_steps)


def test_reported_loss_matches_direct_objective(fits, data):
    A, y, _, _ = data
    m = fits[0.01]
    U = m.transform(A, y)
    direct = float(c2mf_objective(A, U, y, m.W, m.logits, alpha=0.01))
    # the last history entry is the objective one step earlier; the fit is near its floor
    assert direct <= 1.05 * float(m.loss_history[-1]) + 1e-3


def test_dictionary_rows_have_fixed_norm_and_fit_is_deterministic(fits, data):
    A, y, _, _ = data
    m = fits[0.01]
    np.testing.assert_allclose(np.linalg.norm(np.asarray(m.W), axis=1), m.atom_norm, rtol=1e-4)
    again = fit_c2mf(A, y, K, key=jax.random.key(0), alpha=0.01, n_classes=Y, **FIT)
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
    m = fits[0.01]
    U = m.transform(A2, y2)
    rel = float(jnp.linalg.norm(A2 - m.reconstruct(U, y2)) / np.linalg.norm(A2))
    assert rel < 0.1, rel
    assert float(U.min()) >= 0 and float(U.max()) <= 1 + 1e-6


@pytest.mark.slow
def test_a_memmap_gives_the_fit_of_the_array(data, tmp_path):
    """Rows on disk (a NumPy memmap) fit exactly as the same rows in memory; rows larger than
    memory go through ``jaxconcepts.streaming.fit_c2mf_streamed`` (tests/streaming)."""
    A, y, _, _ = data
    kw = dict(key=jax.random.key(0), alpha=0.01, n_classes=Y, max_steps=15, tol=0.0)
    m = fit_c2mf(A, y, K, **kw)
    assert m.n_steps == m.loss_history.shape[0] == 15 and not m.converged
    mm = np.lib.format.open_memmap(tmp_path / "A.npy", mode="w+", dtype=np.float32, shape=A.shape)
    mm[:] = A
    m2 = fit_c2mf(mm, y, K, **kw)
    np.testing.assert_array_equal(m2.loss_history, m.loss_history)
    np.testing.assert_array_equal(np.asarray(m2.W), np.asarray(m.W))


@pytest.mark.slow
def test_defaults_converge_on_noisier_larger_data():
    A, y, _, _ = planted(3, noise=0.1, n=3000)
    m = fit_c2mf(A, y, K, key=jax.random.key(1), alpha=0.01)
    assert m.converged and m.n_steps < 500, m.n_steps


def test_one_solver_and_no_solver_argument(data):
    """Block coordinate descent is the only solver (Adam is a benchmark reference)."""
    A, y, _, _ = data
    with pytest.raises(TypeError, match="solver"):
        fit_c2mf(A, y, K, key=jax.random.key(0), alpha=0.01, solver="bcd")


@pytest.mark.slow
def test_alpha_is_scale_free(data):
    """Scaling A by t scales the objective by t² and leaves the fit unchanged."""
    A, y, _, _ = data
    a = fit_c2mf(A, y, K, key=jax.random.key(0), alpha=0.01, n_classes=Y, max_steps=10, tol=0.0)
    b = fit_c2mf(10 * A, y, K, key=jax.random.key(0), alpha=0.01, n_classes=Y, max_steps=10,
                 tol=0.0)
    np.testing.assert_allclose(np.asarray(b.W), 10 * np.asarray(a.W), atol=1e-2 * b.atom_norm)
    np.testing.assert_allclose(np.asarray(b.gates), np.asarray(a.gates), atol=1e-2)
    np.testing.assert_allclose(b.loss_history, 100 * a.loss_history, rtol=1e-2)


@pytest.mark.slow
def test_empty_class_reported_and_gated_off(data):
    A, y, _, _ = data
    with pytest.warns(UserWarning, match=r"\[3\]"):
        m = fit_c2mf(A, y, K, key=jax.random.key(0), alpha=0.01, n_classes=Y + 1, max_steps=20)
    assert np.all(np.asarray(m.gates)[Y] == 0) and np.asarray(m.fitted).tolist() == [1, 1, 1, 0]


def test_model_is_a_pytree(fits):
    m = fits[0.01]
    leaves = jax.tree_util.tree_leaves(m)
    assert any(leaf is m.W for leaf in leaves) and any(leaf is m.logits for leaf in leaves)
    out = jax.jit(lambda mod, A, y: mod.reconstruct(jnp.ones((A.shape[0], K)), y))(
        m, jnp.zeros((2, m.W.shape[1])), jnp.array([0, 1]))
    assert out.shape == (2, m.W.shape[1])

@pytest.mark.slow
def test_nan_loss_stops_with_step_named(data):
    A, y, _, _ = data
    opt = optax.chain(optax.scale(float("nan")))
    with pytest.raises(FloatingPointError, match="non-finite at step 0"):
        fit_c2mf(A, y, K, key=jax.random.key(0), alpha=0.01, optimizer=opt, n_classes=Y,
                 max_steps=5)


@pytest.mark.slow
def test_lbfgs_gate_optimizer_works(data):
    A, y, _, W_true = data
    m = fit_c2mf(A, y, K, key=jax.random.key(0), alpha=0.01, n_classes=Y,
                 optimizer=optax.lbfgs(), gate_steps=3)
    assert m.converged
    cos, idx = match_atoms(m.W, W_true)
    assert np.all(cos > 0.95), cos
    np.testing.assert_array_equal(np.asarray(m.gates)[:, idx] > 0.1, RECIPES)


def test_bad_input_is_a_clear_error(data):
    A, y, _, _ = data
    with pytest.raises(ValueError, match=r"k=31 .*do not support"):
        fit_c2mf(A, y, 31, key=jax.random.key(0), alpha=0.01)
    with pytest.raises(ValueError, match="NaN"):
        fit_c2mf(np.where(np.arange(A.shape[1]) == 2, np.nan, A), y, K, key=jax.random.key(0),
                 alpha=0.01)
    with pytest.raises(ValueError, match="y should"):
        fit_c2mf(A, y[:-1], K, key=jax.random.key(0), alpha=0.01)
    with pytest.raises(TypeError, match="integer"):
        fit_c2mf(A, y.astype(float), K, key=jax.random.key(0), alpha=0.01)


@pytest.mark.parametrize("n_chunks", [7, 12])
def test_code_sweeps_in_tiles_give_the_codes_of_one_pass(monkeypatch, n_chunks):
    """The chunks solved tile by tile (padded when the tiles do not divide them) give the codes
    of one pass over every chunk: each row's coordinates depend on that row alone."""
    from jaxconcepts.concepts import _c2mf_bcd as bcd

    rng = np.random.default_rng(3)
    k, ch = 6, 5
    W = rng.standard_normal((k, 9)).astype(np.float32)
    A = np.abs(rng.standard_normal((n_chunks * ch, 9))).astype(np.float32)
    G, Bt = jnp.asarray(W @ W.T), jnp.asarray((W @ A.T).reshape(k, n_chunks, ch))
    Sg = jnp.asarray(rng.uniform(0.0, 1.0, (k, n_chunks, 1)).astype(np.float32)).at[0, 0].set(0.)
    U0 = jnp.asarray(rng.uniform(0.0, 1.0, (k, n_chunks, ch)).astype(np.float32))
    whole = bcd.code_sweeps(U0, Bt, G, Sg, 4)
    monkeypatch.setattr(bcd, "_TILE_BYTES", 4 * k * ch * 5)  # tiles of 5 chunks
    tiled = bcd.code_sweeps(U0, Bt, G, Sg, 4)
    assert tiled.shape == whole.shape
    np.testing.assert_allclose(np.asarray(tiled), np.asarray(whole), rtol=1e-6, atol=1e-6)
    assert float(jnp.max(jnp.abs(whole - bcd._sweeps(U0, Bt, G, Sg, 4)))) == 0.0
    assert float(jnp.min(tiled)) >= 0.0 and float(jnp.max(tiled)) <= 1.0
