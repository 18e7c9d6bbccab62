"""The streamed NMF (online first pass: groups of shards, determinism, bad input; the pass fit)
and the streamed PCA, both in streaming/_nmf.py."""

import json

import jax
import numpy as np
import pytest

from jaxconcepts.concepts._pca_baseline import fit_pca_baseline
from jaxconcepts.store import RowsView
from jaxconcepts.streaming import (fit_nmf_streamed, fit_pca_streamed, nmf_error,
                                   write_synthetic_store)
from jaxconcepts.streaming._synthetic import write_tensors

from tests.streaming.conftest import all_rows

KW = dict(max_steps=3, tol=0.0, code_sweeps=30, dict_sweeps=5, init_rows=512, forget=1.0)


def group_rows(rows, m):
    """Per group: the multiset of (class, row) of its valid images, order-free."""
    out, cur = [], []
    for b, last in rows.groups(m):
        cur += [(int(y), a.tobytes()) for a, y, v in zip(b.A, b.y, b.valid) if v]
        if last:
            out.append(sorted(cur))
            cur = []
    return out


def test_groups_hold_the_same_rows_for_any_process_count(nn_store):
    one = group_rows(RowsView(nn_store, images_per_batch=8), 2)
    assert len(one) == 3  # 5 shards in groups of 2
    views = [RowsView(nn_store, images_per_batch=8, process_index=p, process_count=2)
             for p in range(2)]
    per = [list(v.groups(2)) for v in views]
    assert len(per[0]) == len(per[1])  # processes step together
    assert [last for _, last in per[0]] == [last for _, last in per[1]]
    two = [group_rows(v, 2) for v in views]
    assert [sorted(a + b) for a, b in zip(*two)] == one


def test_raw_groups_are_the_stored_rows(nn_store):
    rows = RowsView(nn_store, images_per_batch=8)
    n = 0
    for (r, lr), (c, lc) in zip(rows.groups(1, raw=True), rows.groups(1)):
        np.testing.assert_array_equal(np.swapaxes(r.A.astype(np.float32), 1, 2), c.A)
        assert lr == lc and np.array_equal(r.valid, c.valid)
        n += 1
    assert n == 4 * 4 + 3  # shards of 25, 25, 25, 25, 20 images: batches never span two


@pytest.mark.slow
def test_online_fit_is_deterministic_and_near_the_pass_fit(nn_store):
    a = fit_nmf_streamed(RowsView(nn_store, images_per_batch=16), 4, key=jax.random.key(5),
                         update_shards=1, **KW)
    b = fit_nmf_streamed(RowsView(nn_store, images_per_batch=16, prefetch=0), 4,
                         key=jax.random.key(5), update_shards=1, **KW)
    np.testing.assert_array_equal(np.asarray(a.W), np.asarray(b.W))
    np.testing.assert_array_equal(a.error_history, b.error_history)
    rows = RowsView(nn_store, images_per_batch=16)
    p = fit_nmf_streamed(rows, 4, key=jax.random.key(5), update_shards=None, **KW)
    ea, ep = (nmf_error(m.W, rows, code_sweeps=200) for m in (a, p))
    # 3 passes from k sampled rows vs from an in-memory NMF of a sample (converged: the
    # parametrised test_streamed_nmf_decreases_and_matches_scale)
    assert ea <= 1.05 * ep, (ea, ep)


def test_online_updates_once_per_group(nn_store):
    seen = []
    fit_nmf_streamed(RowsView(nn_store, images_per_batch=16), 4, key=jax.random.key(0),
                     update_shards=2, on_update=lambda t, W, e: seen.append((t, W.shape, e)),
                     **dict(KW, max_steps=1))
    assert [t for t, _, _ in seen] == [1, 2, 3]
    assert all(s == (4, 4, 24) and np.isfinite(e) for _, s, e in seen)


@pytest.mark.slow
@pytest.mark.parametrize("update_shards", [None, 1])
def test_nan_in_a_shard_names_shard_and_row(tmp_path, update_shards):
    write_synthetic_store(tmp_path, n_images=40, channels=8, hw=(2, 2), k=3, n_classes=2,
                          images_per_shard=10, dtype="float16", nonnegative=True, seed=0)
    man = json.loads((tmp_path / "manifest.json").read_text())
    bad = tmp_path / man["shards"][2]["file"]
    rows = RowsView(tmp_path, images_per_batch=4)
    act, cls = rows._raw_shard(2)
    act = np.array(act).reshape(10, 8, 2, 2)
    act[3, 5, 1, 0] = np.nan  # image 3, position 2 -> row 14 of the shard
    write_tensors(bad, {"activations": act, "pred": cls.astype(np.int32)})
    with pytest.raises(ValueError, match=rf"{bad.name}.*NaN/Inf.*row 14"):
        fit_nmf_streamed(RowsView(tmp_path, images_per_batch=4), 3, key=jax.random.key(1),
                         update_shards=update_shards, **dict(KW, init_rows=8))


def test_bad_update_shards():
    with pytest.raises(ValueError, match="update_shards=0"):
        fit_nmf_streamed(None, 3, key=jax.random.key(0), update_shards=0, **KW)


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
