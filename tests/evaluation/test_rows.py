"""The rows view: batches of images cover the split exactly once, padded to one size."""

import numpy as np
import pytest

from jaxconcepts.evaluation import ImageRows, RowsView, k_caps, split_by_image


def _data(n=11, p=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    cls = np.array([5] * 5 + [7] * 4 + [9] * 2)[:n]
    return ImageRows(rng.random((n, p, c)).astype(np.float32), cls, -np.ones(n, np.int64),
                     cls.copy(), np.arange(100, 100 + n))


def test_train_batches_stream_the_train_rows():
    data = _data()
    split = split_by_image(data.cls, test_fraction=0.3, min_images=2, seed=0)
    view = RowsView(data, split)
    A, y = view.train_rows()
    parts = list(view.train_batches(2))
    np.testing.assert_array_equal(np.concatenate([a for a, _ in parts]), A)
    np.testing.assert_array_equal(np.concatenate([b for _, b in parts]), y)
    assert set(np.unique(y)) == set(range(view.n_classes)) and view.n_classes == 3
    np.testing.assert_array_equal(view.rows_per_class(), np.bincount(y))


@pytest.mark.parametrize("batch", [1, 2, 3, 16])
def test_test_batches_are_padded_and_cover_each_image_once(batch):
    data = _data()
    split = split_by_image(data.cls, test_fraction=0.3, min_images=2, seed=1)
    view = RowsView(data, split)
    seen, target, y = [], [], []
    for b in view.test_batches(batch):
        assert b.A.shape == (batch, 4, 3) and b.y.shape == b.target.shape == (batch,)
        assert 1 <= b.n <= batch
        seen.append(b.A[:b.n])
        target.append(b.target[:b.n])
        y.append(b.y[:b.n])
    np.testing.assert_array_equal(np.concatenate(seen), data.A[split.test])
    np.testing.assert_array_equal(np.concatenate(target), data.cls[split.test])  # store classes
    remap = {5: 0, 7: 1, 9: 2}
    np.testing.assert_array_equal(np.concatenate(y), [remap[c] for c in data.cls[split.test]])


def test_k_caps_per_method():
    caps = k_caps(np.array([8, 12]), 10, craft_rows_per_class=np.array([4, 6]))
    assert caps == {"c2mf": 10, "craft": 4, "pca": 7}
