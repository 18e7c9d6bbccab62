"""The RowsView pass cache on a streamed store: the cached passes are the streamed ones."""

import jax
import numpy as np
import pytest

from jaxconcepts.store import RowsView
from jaxconcepts.streaming import fit_c2mf_streamed

from tests.streaming.conftest import C2


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
