"""The streamed C2MF schedule: rounds on the sums, warm start, extrapolation, online
first pass — the same end point as one block step per pass, bad settings refused; streamed C2MF
vs the in-memory fit, streamed codes, determinism, bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts._c2mf import fit_c2mf
from jaxconcepts.concepts._c2mf_bcd import default_gate_optimizer
from jaxconcepts.store import RowsView
from jaxconcepts.streaming import fit_c2mf_streamed, stream_c2mf_codes, write_synthetic_store
from jaxconcepts.streaming._c2mf import block_rounds
from jaxconcepts.streaming._synthetic import write_tensors

from tests.streaming.conftest import C2, all_rows, exact_objective

TODAY = dict(stat_rounds=1, init_steps=0, extrapolate=False)  # one block step per pass


def _sums(seed, n=300, c=12, k=5, Y=3):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, c)).astype(np.float32)
    U = rng.uniform(0, 1, size=(n, k)).astype(np.float32)
    y = rng.integers(0, Y, n)
    P = np.stack([U[y == j].T @ U[y == j] for j in range(Y)])
    T = np.stack([U[y == j].T @ A[y == j] for j in range(Y)])
    e = np.array([np.sum(A[y == j] ** 2) for j in range(Y)])
    W = rng.normal(size=(k, c)).astype(np.float32)
    W = 2.0 * W / np.linalg.norm(W, axis=1, keepdims=True)
    return A, U, y, P, T, e, W


def _objective(A, U, y, W, lam, alpha, e):
    g = np.asarray(jax.nn.sigmoid(lam))
    R = A - (U * g[y]) @ np.asarray(W)
    return float(np.sum(R * R) + np.sum(alpha * e[:, None] * g))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rounds_on_the_sums_never_increase_the_objective(seed):
    """Each round is a gate step (kept per class only if it helped) and exact dictionary rows, and
    its loss from the sums is the objective of those codes, computed row by row."""
    A, U, y, P, T, e, W = _sums(seed)
    opt = default_gate_optimizer(0.05)
    lam = jnp.zeros((P.shape[0], P.shape[1]))
    state, prev = (jnp.asarray(W), lam, opt.init(lam)), np.inf
    for _ in range(6):
        W1, lam1, s1, ok, loss = block_rounds(*state, jnp.asarray(P), jnp.asarray(T),
                                              jnp.asarray(e), jnp.float32(0.01), jnp.float32(2.0),
                                              optimizer=opt, gate_steps=10, dict_sweeps=3,
                                              rounds=1)
        assert bool(ok)
        assert float(loss) <= prev * (1 + 1e-5), (float(loss), prev)
        assert float(loss) == pytest.approx(_objective(A, U, y, W1, lam1, 0.01, e), rel=1e-4)
        np.testing.assert_allclose(np.linalg.norm(np.asarray(W1), axis=1), 2.0, rtol=1e-5)
        state, prev = (W1, lam1, s1), float(loss)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [{}, {"update_shards": 1}], ids=["default", "online"])
def test_schedules_reach_the_end_point_of_one_step_per_pass(store, extra):
    """Same end point (within 1 %) as one block step per pass, in fewer passes."""
    today = fit_c2mf_streamed(RowsView(store, images_per_batch=16), 6, key=jax.random.key(0),
                              **C2, **TODAY)
    new = fit_c2mf_streamed(RowsView(store, images_per_batch=16), 6, key=jax.random.key(0),
                            **C2, **extra)
    L_t, L_n = float(today.loss_history[-1]), float(new.loss_history[-1])
    assert abs(L_n - L_t) <= 0.01 * L_t, (L_n, L_t)
    t_hit = np.flatnonzero(today.loss_history <= 1.01 * min(L_t, L_n))[0]
    n_hit = np.flatnonzero(new.loss_history <= 1.01 * min(L_t, L_n))[0]
    assert n_hit < t_hit, (n_hit, t_hit)


@pytest.mark.slow
def test_online_first_pass_is_deterministic_and_finite(store):
    kw = dict(C2, max_steps=3, tol=0.0, update_shards=2)
    a = fit_c2mf_streamed(RowsView(store, images_per_batch=16), 6, key=jax.random.key(3), **kw)
    b = fit_c2mf_streamed(RowsView(store, images_per_batch=16, prefetch=0), 6,
                          key=jax.random.key(3), **kw)
    np.testing.assert_array_equal(np.asarray(a.W), np.asarray(b.W))
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    assert np.all(np.isfinite(a.loss_history)) and a.n_steps == 3


@pytest.mark.parametrize("bad", [{"stat_rounds": 0}, {"init_steps": -1}, {"update_shards": 0},
                                 {"stat_rounds": 1.5}])
def test_bad_schedule_settings_are_refused(store, bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=rf"{name}={bad[name]}"):
        fit_c2mf_streamed(RowsView(store, images_per_batch=16), 6, key=jax.random.key(0),
                          **dict(C2, max_steps=1), **bad)


@pytest.mark.slow
@pytest.mark.parametrize("update_shards", [None, 1])
def test_nan_in_a_shard_names_shard_and_row(tmp_path, update_shards):
    write_synthetic_store(tmp_path, n_images=40, channels=8, hw=(2, 2), k=3, n_classes=2,
                          images_per_shard=10, dtype="float16", seed=0)
    man = json.loads((tmp_path / "manifest.json").read_text())
    bad = tmp_path / man["shards"][2]["file"]
    rows = RowsView(tmp_path, images_per_batch=4)
    act, cls = rows._raw_shard(2)
    act = np.array(act).reshape(10, 8, 2, 2)
    act[3, 5, 1, 0] = np.nan  # image 3, position 2 -> row 14 of the shard
    write_tensors(bad, {"activations": act, "pred": cls.astype(np.int32)})
    with pytest.raises(ValueError, match=rf"{bad.name}.*NaN/Inf.*row 14"):
        fit_c2mf_streamed(RowsView(tmp_path, images_per_batch=4), 3, key=jax.random.key(1),
                          update_shards=update_shards, **dict(C2, max_steps=2, init_rows=8))


@pytest.mark.slow
def test_streamed_c2mf_within_1pct_of_full_batch_on_store(store):
    rows = RowsView(store, images_per_batch=16)
    A, y = all_rows(rows)
    m_s = fit_c2mf_streamed(rows, 6, key=jax.random.key(0), **C2)
    m_f = fit_c2mf(A, y, 6, key=jax.random.key(0), alpha=0.01, n_classes=rows.n_classes,
                   max_steps=300)
    L_s, L_f = exact_objective(m_s, A, y, 0.01), exact_objective(m_f, A, y, 0.01)
    assert abs(L_s - L_f) <= 0.01 * L_f, (L_s, L_f)
    # the last loss is the objective of the last pass's codes, in the same units
    assert m_s.loss_history[-1] == pytest.approx(L_s, rel=0.02)


@pytest.mark.slow
def test_streamed_c2mf_within_1pct_on_planted(tmp_path, rows_store):
    from tests.planted import K, Y, planted

    A, y, _, _ = planted(0, n=640)
    # one image = 4 rows of one class: group rows by class into images
    order = np.argsort(y, kind="stable")
    A, y = A[order], y[order]
    keep = np.concatenate([np.flatnonzero(y == c)[: (np.sum(y == c) // 4) * 4] for c in range(Y)])
    A, y = A[keep], y[keep]
    act = A.reshape(-1, 4, A.shape[1]).transpose(0, 2, 1).reshape(-1, A.shape[1], 2, 2)
    yi = y[::4].astype(np.int32)
    rows_store([(act.astype(np.float32), yi)])
    rows = RowsView(tmp_path, images_per_batch=32)
    A2, y2 = all_rows(rows)
    m_s = fit_c2mf_streamed(rows, K, key=jax.random.key(0), **C2)
    m_f = fit_c2mf(A2, y2, K, key=jax.random.key(0), alpha=0.01, n_classes=Y, max_steps=300)
    L_s, L_f = exact_objective(m_s, A2, y2, 0.01), exact_objective(m_f, A2, y2, 0.01)
    assert abs(L_s - L_f) <= 0.01 * L_f, (L_s, L_f)


@pytest.mark.slow
def test_streamed_fit_is_deterministic_and_batch_size_free(store):
    kw = dict(C2, max_steps=4, tol=0.0)
    a = fit_c2mf_streamed(RowsView(store, images_per_batch=16), 6, key=jax.random.key(3), **kw)
    b = fit_c2mf_streamed(RowsView(store, images_per_batch=16, prefetch=0), 6,
                          key=jax.random.key(3), **kw)
    np.testing.assert_array_equal(np.asarray(a.W), np.asarray(b.W))
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    c = fit_c2mf_streamed(RowsView(store, images_per_batch=40), 6, key=jax.random.key(3), **kw)
    np.testing.assert_allclose(np.asarray(c.W), np.asarray(a.W), rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_streamed_codes_match_transform(store):
    rows = RowsView(store, images_per_batch=16)
    m = fit_c2mf_streamed(rows, 6, key=jax.random.key(0), **dict(C2, max_steps=5))
    for U, batch in stream_c2mf_codes(m, rows, code_sweeps=100):
        A = batch.A[batch.valid].reshape(-1, rows.channels)
        y = np.repeat(batch.y[batch.valid], rows.rows_per_image)
        ref = np.asarray(m.transform(A, y))
        np.testing.assert_allclose(U[batch.valid].reshape(-1, 6), ref, atol=2e-3)
        assert np.all(U[~batch.valid] == 0)
        break


@pytest.mark.slow
def test_class_without_rows_reported_and_gated_off(tmp_path):
    write_synthetic_store(tmp_path, n_images=60, channels=16, hw=(2, 2), k=4, n_classes=3,
                          images_per_shard=20, empty_classes=(1,))
    rows = RowsView(tmp_path, images_per_batch=8, n_classes=3)
    assert rows.class_rows[1] == 0
    with pytest.warns(UserWarning, match=r"class\(es\) have no rows.*\[1\]"):
        m = fit_c2mf_streamed(rows, 4, key=jax.random.key(0), **dict(C2, max_steps=3))
    assert np.all(np.asarray(m.gates)[1] == 0) and np.all(np.asarray(m.gates)[[0, 2]] > 0)


@pytest.mark.slow
def test_non_finite_objective_stops_with_the_pass_named(store):
    """A gate optimizer that returns NaN stops the streamed fit at its first pass."""
    import optax

    rows = RowsView(store, images_per_batch=16)
    with pytest.raises(FloatingPointError, match="non-finite at pass 0"):
        fit_c2mf_streamed(rows, 6, key=jax.random.key(0), optimizer=optax.scale(float("nan")),
                          **dict(C2, max_steps=3))
