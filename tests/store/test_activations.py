"""The activation store: round trip, streaming, atomicity, bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.store import FIELDS, ActivationStore, HeadParams, StoreWriter


def _rows(n, start=0, c=4, hw=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "activations": rng.random((n, c, hw, hw), dtype=np.float32),
        "logits": rng.standard_normal((n, 5)).astype(np.float32),
        "target": rng.integers(0, 5, n), "label": -np.ones(n), "pred": rng.integers(0, 5, n),
        "prob": rng.random(n, dtype=np.float32), "index": np.arange(start, start + n),
    }


def _write(path, chunks, shard_size):
    with StoreWriter(path, shard_size=shard_size) as w:
        for ch in chunks:
            w.add(**ch)
        w.finish({"shape": [4, 3, 3], "images": []},
                 HeadParams(np.ones((5, 4), np.float32), np.zeros(5, np.float32)))


def test_round_trip_is_bit_exact_and_streams_across_shards(tmp_path):
    chunks = [_rows(4, 0, seed=1), _rows(3, 4, seed=2), _rows(4, 7, seed=3)]
    _write(tmp_path / "s", chunks, shard_size=5)
    store = ActivationStore(tmp_path / "s")
    assert len(store) == 11 and [s["rows"] for s in store.manifest["shards"]] == [5, 5, 1]
    want = {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in FIELDS}
    for bs in (1, 3, 11, 64):
        batches = list(store.iter_batches(bs))
        assert [len(b.index) for b in batches][:-1] == [bs] * (len(batches) - 1)
        assert all(isinstance(b.activations, jnp.ndarray) for b in batches)
        for k in FIELDS:
            got = np.concatenate([np.asarray(getattr(b, k)) for b in batches])
            np.testing.assert_array_equal(got, want[k].astype(got.dtype), err_msg=k)
    np.testing.assert_array_equal(store.read("activations"), want["activations"])
    assert store.head.weight.shape == (5, 4)


def test_streaming_holds_one_shard_at_a_time(tmp_path, monkeypatch):
    _write(tmp_path / "s", [_rows(10)], shard_size=2)
    store = ActivationStore(tmp_path / "s")
    import jaxconcepts.store._activations as mod

    loaded = []
    real = mod.read_shard
    monkeypatch.setattr(mod, "read_shard", lambda p, k=None: loaded.append(p) or real(p, k))
    it = store.iter_batches(2)
    next(it)
    assert len(loaded) == 1  # the first batch needed only the first shard
    list(it)
    assert len(loaded) == 5


def test_interrupted_write_leaves_no_store(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with StoreWriter(tmp_path / "s", shard_size=2) as w:
            w.add(**_rows(5))
            raise KeyboardInterrupt
    assert not (tmp_path / "s").exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_rewrite_keeps_the_old_store(tmp_path):
    _write(tmp_path / "s", [_rows(3)], shard_size=2)
    with pytest.raises(RuntimeError, match="without finish"):
        with StoreWriter(tmp_path / "s") as w:
            w.add(**_rows(1))
    assert len(ActivationStore(tmp_path / "s")) == 3


def test_not_a_store_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an activation store"):
        ActivationStore(tmp_path)

