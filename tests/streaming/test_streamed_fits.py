"""Streamed fits vs the in-memory reference, bad input, determinism."""

import jax
import numpy as np
import pytest

from jaxconcepts.concepts._c2mf import c2mf_objective, fit_c2mf
from jaxconcepts.concepts._pca_baseline import fit_pca_baseline
from jaxconcepts.store import RowsView
from jaxconcepts.streaming import (fit_c2mf_streamed, fit_nmf_streamed, fit_pca_streamed,
                                   stream_c2mf_codes, write_synthetic_store)

C2 = dict(alpha=0.01, max_steps=150, tol=1e-5, code_sweeps=30, gate_steps=10, dict_sweeps=10,
          learning_rate=0.05, init_rows=4096)


def all_rows(rows):
    A, y = [], []
    for b in rows:
        A.append(b.A[b.valid].reshape(-1, rows.channels))
        y.append(np.repeat(b.y[b.valid], rows.rows_per_image))
    return np.concatenate(A), np.concatenate(y).astype(np.int32)


def exact_objective(model, A, y, alpha):
    U = model.transform(A, y)
    return float(c2mf_objective(A, U, y, model.W, model.logits, alpha=alpha))


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


@pytest.mark.slow
@pytest.mark.parametrize("update_shards", [None, 1])
def test_streamed_nmf_decreases_and_matches_scale(nn_store, update_shards):
    rows = RowsView(nn_store, images_per_batch=16)
    m = fit_nmf_streamed(rows, 4, key=jax.random.key(0), max_steps=10, tol=0.0, code_sweeps=30,
                         dict_sweeps=10, init_rows=1024, update_shards=update_shards, forget=0.0)
    h = m.error_history
    # passes after the first are exact alternating steps (the online first pass's error is of
    # the rows as they were coded, with a dictionary still moving: it may be above the next one)
    assert np.all(np.diff(h[1:]) <= 1e-6), h
    assert np.all(np.asarray(m.W) >= 0)
    # the in-memory per-class NMF (kernels.nmf, to convergence) on the same rows
    from jaxconcepts.kernels import nmf

    A, y = all_rows(rows)
    num = sum(float(nmf(A[y == c], 4, key=jax.random.key(c), max_iter=300).rel_error) ** 2
              * float(np.sum(A[y == c].astype(np.float64) ** 2)) for c in np.unique(y))
    ref = np.sqrt(num / float(np.sum(A.astype(np.float64) ** 2)))
    assert h[-1] <= 1.01 * ref, (h[-1], ref)


def test_nmf_refuses_negative_store(store):
    with pytest.raises(ValueError, match="non-negative"):
        fit_nmf_streamed(RowsView(store, images_per_batch=16), 4, key=jax.random.key(0),
                         max_steps=2, tol=0.0, code_sweeps=5, dict_sweeps=2, init_rows=512,
                         update_shards=None, forget=0.0)


def test_streamed_pca_equals_in_memory(store):
    rows = RowsView(store, images_per_batch=16)
    A, y = all_rows(rows)
    p, q = fit_pca_streamed(rows, 3), fit_pca_baseline(A, y, 3)
    cos = np.abs(np.einsum("ykc,ykc->yk", np.asarray(p.W), np.asarray(q.W)))
    np.testing.assert_allclose(cos, 1.0, atol=1e-3)
    np.testing.assert_allclose(np.asarray(p.explained_variance),
                               np.asarray(q.explained_variance), rtol=1e-3)


def test_cached_passes_are_the_streamed_ones_and_skip_the_disk(store, monkeypatch):
    streamed = [(b.A.copy(), b.y.copy(), b.valid.copy())
                for b in RowsView(store, images_per_batch=16)]
    rows = RowsView(store, images_per_batch=16, cache_bytes=1 << 30)
    assert 0 < rows.pass_bytes() <= rows.cache_bytes
    it = iter(rows)
    next(it)
    it.close()  # a pass left early is not kept
    assert not rows._cache
    first = list(rows)
    assert rows._cache
    monkeypatch.setattr(rows, "_raw_shard", lambda i: pytest.fail("read the disk again"))
    second = list(rows)
    assert len(first) == len(second) == len(streamed)
    for (A, y, v), b1, b2 in zip(streamed, first, second):
        for ref, got1, got2 in zip((A, y, v), b1, b2):
            np.testing.assert_array_equal(got1, ref)
            assert got2 is got1 and not got1.flags.writeable


def test_cache_over_budget_streams_every_pass(store, monkeypatch):
    rows = RowsView(store, images_per_batch=16, cache_bytes=16)
    list(rows)
    assert not rows._cache
    calls = []
    real = rows._raw_shard
    monkeypatch.setattr(rows, "_raw_shard", lambda i: calls.append(i) or real(i))
    list(rows)
    assert calls


@pytest.mark.slow
def test_cached_fit_equals_streamed_fit(store):
    kw = dict(C2, max_steps=4, tol=0.0)
    a = fit_c2mf_streamed(RowsView(store, images_per_batch=16), 6, key=jax.random.key(3), **kw)
    b = fit_c2mf_streamed(RowsView(store, images_per_batch=16, cache_bytes=1 << 30), 6,
                          key=jax.random.key(3), **kw)
    np.testing.assert_array_equal(np.asarray(a.W), np.asarray(b.W))
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
