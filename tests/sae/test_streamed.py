"""Streamed fits from the store: equal to the in-memory fit on the same batches; 1 vs 2 devices."""

import jax
import numpy as np
import pytest

from jaxconcepts.sae import METHODS, fit_sae, fit_sae_streamed

FIT = dict(width=32, k=3, epochs=3, learning_rate=3e-3, init_rows=4096, sparsity=0.03)


def _streamed(store, method):
    from jaxconcepts.store import RowsView

    rows = RowsView(store, images_per_batch=8, prefetch=0)
    return fit_sae_streamed(rows, method=method, key=jax.random.key(0), **FIT)


@pytest.mark.parametrize("method", ["topk", "batchtopk"])
def test_streamed_equals_in_memory_on_the_same_batches(feature_store, store_rows, method):
    s = _streamed(feature_store, method)
    # 8 images x 16 positions = 128 rows per batch, in manifest order: the same batches
    m = fit_sae(store_rows, method=method, key=jax.random.key(0), shuffle=False,
                batch_size=128, **FIT)
    np.testing.assert_allclose(np.asarray(s.W_dec), np.asarray(m.W_dec), atol=2e-6)
    np.testing.assert_allclose(np.asarray(s.theta), np.asarray(m.theta), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(s.loss_history, m.loss_history, rtol=1e-5)
    assert s.n_classes == 1 and s.n_dead == m.n_dead


def test_streamed_archetypal_with_handed_points_equals_in_memory(feature_store, store_rows):
    """The same candidate points handed to both fits: the same hull, the same atoms."""
    from jaxconcepts.store import RowsView

    C = store_rows[::50][:12] * 1.5
    kw = {**FIT, "method": "archetypal", "key": jax.random.key(0), "candidate_points": C}
    s = fit_sae_streamed(RowsView(feature_store, images_per_batch=8, prefetch=0), **kw)
    m = fit_sae(store_rows, shuffle=False, batch_size=128, **kw)
    assert s.config.candidates == m.config.candidates == 12
    np.testing.assert_allclose(np.asarray(s.candidates), C, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(s.W_dec), np.asarray(m.W_dec), atol=2e-6)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_two_devices_equal_one(feature_store, two_devices, method):
    """The batch sharded over a forced 2-device CPU mesh: the global-mean loss makes XLA
    all-reduce the gradient, and BatchTopK's budget is global, so the atoms are the same."""
    assert int(two_devices["devices"]) == 2
    one = _streamed(feature_store, method)
    np.testing.assert_allclose(two_devices[f"{method}_W"], np.asarray(one.W_dec), atol=1e-5)
    np.testing.assert_allclose(two_devices[f"{method}_loss"], one.loss_history, rtol=1e-5)


GROUP = {"shards_per_step": 2, "images_per_batch": 32}  # 2 shards of 16 images per step


def _grouped(store, method, **kw):
    from jaxconcepts.store import RowsView

    rows = RowsView(store, images_per_batch=kw.pop("images_per_batch"), prefetch=0)
    return fit_sae_streamed(rows, method=method, key=jax.random.key(0), **{**FIT, **kw})


def test_group_aligned_steps_equal_in_memory_batches(feature_store, store_rows):
    """One step per 2 shards (512 rows, manifest order): the in-memory fit on 512-row batches."""
    s = _grouped(feature_store, "topk", **GROUP)
    m = fit_sae(store_rows, method="topk", key=jax.random.key(0), shuffle=False,
                batch_size=512, **FIT)
    assert len(s.loss_history) == 3
    np.testing.assert_allclose(np.asarray(s.W_dec), np.asarray(m.W_dec), atol=2e-6)
    np.testing.assert_allclose(s.loss_history, m.loss_history, rtol=1e-5)
    with pytest.raises(ValueError, match="shards_per_step=2: a group of 2 shards does not fit"):
        _grouped(feature_store, "topk", shards_per_step=2, images_per_batch=16)
    with pytest.raises(ValueError, match="shards_per_step=0"):
        _grouped(feature_store, "topk", shards_per_step=0, images_per_batch=16)


@pytest.mark.slow
def test_two_processes_equal_one_with_group_aligned_steps(feature_store, two_processes):
    """2 processes (jax.distributed on CPU, gloo), each reading every other shard: with one step
    per group of 2 shards the global batches hold the same rows as with 1 process (each process
    adds 16 padding images), so the atoms agree to float noise."""
    two = two_processes
    assert int(two["devices"]) == 2
    for method in ("topk", "batchtopk"):
        one = _grouped(feature_store, method, **GROUP)
        np.testing.assert_allclose(two[f"{method}_W"], np.asarray(one.W_dec), atol=1e-5)
        np.testing.assert_allclose(two[f"{method}_loss"], one.loss_history, rtol=1e-5)


@pytest.mark.slow
def test_streamed_dictionaries_two_devices_equal_one(feature_store, two_devices):
    """SemiNMF and the k-means dictionary sharded over a forced 2-device CPU mesh: per-device
    sums, summed once a pass, give the same dictionaries up to the order of float sums. (Here,
    not in ``test_streamed_dicts.py``: a test file runs on one worker, so the session's 2-device
    and 2-process runs launch once.)"""
    from tests.sae.test_streamed_dicts import _assert_same

    _assert_same(two_devices, feature_store)


@pytest.mark.slow
def test_streamed_dictionaries_two_processes_equal_one(feature_store, two_processes):
    """2 processes, each reading every other shard: the pass sums hold the same rows, and a
    row's SemiNMF codes depend on the row and W only (δ from the shared sample), so the same
    dictionaries."""
    from tests.sae.test_streamed_dicts import _assert_same

    _assert_same(two_processes, feature_store)
