"""The activation store: round trip, streaming, atomicity, extraction end to end, bad input."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.features import ActivationStore, HeadParams, StoreWriter, extract
from jaxconcepts.features._extract import NonFiniteActivationError
from jaxconcepts.features._store import FIELDS
from tests.features.conftest import write_image


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
    import jaxconcepts.features._store as mod

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


def test_extract_end_to_end_with_bad_files(tmp_path, tiny_model, image_folder):
    (image_folder / "a" / "broken.jpg").write_bytes(b"garbage")
    (image_folder / "b" / "readme.md").write_text("x")
    write_image(image_folder / "b" / "gray.png", mode="L")
    with pytest.warns(UserWarning, match="skipping"):
        m = extract(tiny_model, image_folder, tmp_path / "store", batch_size=2, shard_size=3,
                    progress=False, use_label_as_target=True)
    store = ActivationStore(tmp_path / "store")
    assert len(store) == 4 and store.shape == (512, 2, 2)
    assert sorted(s["path"].rsplit("/", 1)[1] for s in m["skipped"]) == ["broken.jpg", "readme.md"]
    assert [im["label_name"] for im in store.images] == ["a", "a", "b", "b"]
    np.testing.assert_array_equal(store.read("label"), [0, 0, 1, 1])
    np.testing.assert_array_equal(store.read("target"), [0, 0, 1, 1])
    assert m["class_names"] == ["a", "b"] and m["head"]["kind"] == "gap_linear"
    assert all(len(im["sha256"]) == 64 for im in store.images)
    # stored logits are h(g(x)) and the stored head reproduces them in JAX
    A = store.read("activations")
    z = jnp.asarray(A).mean((2, 3)) @ store.head.weight.T + store.head.bias
    np.testing.assert_allclose(z, store.read("logits"), rtol=1e-4, atol=1e-4)
    p = np.asarray(jax_softmax(store.read("logits")))
    np.testing.assert_allclose(store.read("prob"), p.max(1), rtol=1e-5)
    assert json.loads((tmp_path / "store" / "manifest.json").read_text())["n_images"] == 4


def jax_softmax(z):
    import jax

    return jax.nn.softmax(jnp.asarray(z), -1)


def test_extract_all_unreadable_fails(tmp_path, tiny_model):
    (tmp_path / "im").mkdir()
    (tmp_path / "im" / "x.png").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of the 1 files"):
        extract(tiny_model, tmp_path / "im", tmp_path / "store", batch_size=2, shard_size=2,
                progress=False)
    assert not (tmp_path / "store").exists()


def test_nan_activations_name_the_image(tmp_path, tiny_model, image_folder, monkeypatch):
    real = tiny_model.model.forward_features

    def poisoned(x):
        f = real(x).clone()
        f[-1, 0, 0, 0] = float("nan")
        return f

    monkeypatch.setattr(tiny_model.model, "forward_features", poisoned)
    with pytest.raises(NonFiniteActivationError, match=r"z\.png"):
        extract(tiny_model, image_folder, tmp_path / "store", batch_size=8, shard_size=8,
                progress=False)
    assert not (tmp_path / "store").exists()
