"""The rows view: batches of images cover the split exactly once, padded to one size."""

import numpy as np
import pytest

from jaxconcepts.evaluation import SplitRowsView, k_caps, load_image_rows, split_by_image
from jaxconcepts.store import ActivationStore, HeadParams, StoreWriter


def _data(tmp_path, n=11, hw=(2, 2), c=3, seed=0, shard_size=4):
    """A real store (3 shards) and its per-image scalars; A (n, p, c) for checking."""
    rng = np.random.default_rng(seed)
    cls = np.array([5] * 5 + [7] * 4 + [9] * 2)[:n]
    act = rng.random((n, c) + hw).astype(np.float32)
    with StoreWriter(tmp_path / "s", shard_size=shard_size) as w:
        w.add(activations=act, logits=np.zeros((n, 10), np.float32), target=cls,
              label=-np.ones(n), pred=cls.copy(), prob=np.ones(n, np.float32),
              index=np.arange(n))
        w.finish({"shape": [c, *hw], "images": []},
                 HeadParams(np.ones((10, c), np.float32), np.zeros(10, np.float32)))
    store = ActivationStore(tmp_path / "s")
    data = load_image_rows(store, labels="target")
    A = act.reshape(n, c, -1).transpose(0, 2, 1)
    return store, data, A


def test_train_batches_stream_the_train_rows(tmp_path):
    store, data, A_all = _data(tmp_path)
    split = split_by_image(data.cls, test_fraction=0.3, min_images=2, seed=0)
    view = SplitRowsView(store, data, split)
    A, y = view.train_rows()
    np.testing.assert_array_equal(A, A_all[split.train].reshape(-1, 3))
    parts = list(view.train_batches(2))
    np.testing.assert_array_equal(np.concatenate([a for a, _ in parts]), A)
    np.testing.assert_array_equal(np.concatenate([b for _, b in parts]), y)
    assert set(np.unique(y)) == set(range(view.n_classes)) and view.n_classes == 3
    np.testing.assert_array_equal(view.rows_per_class(), np.bincount(y))


def test_stream_feeds_the_streamed_fits_only_the_split(tmp_path):
    store, data, A_all = _data(tmp_path)
    split = split_by_image(data.cls, test_fraction=0.3, min_images=2, seed=0)
    view = SplitRowsView(store, data, split)
    rows = view.stream("test", 2)
    got = [b for b in rows]
    A = np.concatenate([b.A[b.valid] for b in got])
    y = np.concatenate([b.y[b.valid] for b in got])
    np.testing.assert_array_equal(A, A_all[split.test])
    np.testing.assert_array_equal(y, view.y_img_test)
    np.testing.assert_array_equal(rows.class_rows, np.bincount(view.y_img_test, minlength=3) * 4)


@pytest.mark.parametrize("batch", [1, 2, 3, 16])
def test_test_batches_are_padded_and_cover_each_image_once(tmp_path, batch):
    store, data, A_all = _data(tmp_path)
    split = split_by_image(data.cls, test_fraction=0.3, min_images=2, seed=1)
    view = SplitRowsView(store, data, split)
    seen, target, y = [], [], []
    for b in view.test_batches(batch):
        assert b.A.shape == (batch, 4, 3) and b.y.shape == b.target.shape == (batch,)
        assert 1 <= b.n <= batch
        seen.append(b.A[:b.n])
        target.append(b.target[:b.n])
        y.append(b.y[:b.n])
    np.testing.assert_array_equal(np.concatenate(seen), A_all[split.test])
    np.testing.assert_array_equal(np.concatenate(target), data.cls[split.test])  # store classes
    remap = {5: 0, 7: 1, 9: 2}
    np.testing.assert_array_equal(np.concatenate(y), [remap[c] for c in data.cls[split.test]])


def test_k_caps_per_method():
    caps = k_caps(np.array([8, 12]), 10, craft_rows_per_class=np.array([4, 6]))
    assert caps == {"c2mf": 10, "craft": 4, "pca": 7}


def test_cached_views_are_reused_and_yield_the_streamed_rows(tmp_path):
    store, data, A_all = _data(tmp_path)
    split = split_by_image(data.cls, test_fraction=0.3, min_images=2, seed=0)
    plain = SplitRowsView(store, data, split)
    cached = SplitRowsView(store, data, split, cache_bytes=1 << 20)
    assert cached.stream("train", 2) is cached.stream("train", 2)
    assert cached.stream("train", 2) is not cached.stream("train", 3)
    for _ in range(2):  # the second pass comes from memory
        got = list(cached.test_batches(2))  # whole passes: a pass left early is not kept
        for a, b in zip(plain.test_batches(2), got, strict=True):
            np.testing.assert_array_equal(a.A, b.A)
            np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(cached.rows(split.train), plain.rows(split.train))
    assert all(v._cache for key, v in cached._views.items() if key[0] == "blocks")
    np.testing.assert_array_equal(cached.rows(split.train), A_all[split.train])
