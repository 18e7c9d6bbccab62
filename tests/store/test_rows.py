"""The rows view: order, padding, dtypes, per-process subsets, bad shards."""

import ml_dtypes
import numpy as np
import pytest

from jaxconcepts.store import RowsView


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32])
def test_rows_in_order_padded_any_dtype(tmp_path, rows_store, dtype):
    rng = np.random.default_rng(0)
    acts = [rng.normal(size=(n, 5, 2, 3)).astype(dtype) for n in (4, 3)]
    preds = [[0, 1, 2, 0], [1, 1, 2]]
    rows_store(list(zip(acts, preds)))
    rv = RowsView(tmp_path, images_per_batch=5)
    bs = list(rv)
    assert rv.n_batches == len(bs) == 2 and rv.n_rows == 7 * 6 and rv.channels == 5
    A = np.concatenate([b.A[b.valid] for b in bs])
    ref = np.concatenate(acts).astype(np.float32).reshape(7, 5, 6).transpose(0, 2, 1)
    np.testing.assert_array_equal(A, ref)
    assert bs[0].A.dtype == np.float32 and bs[1].valid.tolist() == [True, True, False, False,
                                                                     False]
    assert np.concatenate([b.y[b.valid] for b in bs]).tolist() == [0, 1, 2, 0, 1, 1, 2]
    assert rv.class_rows.tolist() == [12, 18, 12]


def test_processes_split_shards_and_stay_in_step(tmp_path, rows_store):
    acts = [np.full((n, 2, 1, 1), i, np.float32) for i, n in enumerate((3, 1, 2))]
    rows_store([(a, [0] * len(a)) for a in acts])
    v0 = RowsView(tmp_path, images_per_batch=2, process_index=0, process_count=2)
    v1 = RowsView(tmp_path, images_per_batch=2, process_index=1, process_count=2)
    b0, b1 = list(v0), list(v1)
    assert len(b0) == len(b1) == v0.n_batches == 3  # process 0: 5 images, process 1: 1
    seen0 = np.concatenate([b.A[b.valid, 0, 0] for b in b0])
    seen1 = np.concatenate([b.A[b.valid, 0, 0] for b in b1])
    assert seen0.tolist() == [0, 0, 0, 2, 2] and seen1.tolist() == [1]


def test_nan_shard_named_with_row(tmp_path, rows_store):
    a = np.zeros((3, 4, 2, 2), np.float16)
    bad = np.zeros((2, 4, 2, 2), np.float16)
    bad[1, 2, 1, 0] = np.inf  # image 1, position (1, 0) -> row 1*4 + 2 = 6
    rows_store([(a, [0, 0, 1]), (bad, [1, 1])])
    with pytest.raises(ValueError, match=r"shard 'shard-00001.safetensors'.*row 6.*image 1"):
        list(RowsView(tmp_path, images_per_batch=2))


def test_mismatched_shards_named(tmp_path, rows_store):
    rows_store([(np.zeros((2, 4, 2, 2), np.float16), [0, 1]),
                (np.zeros((2, 4, 2, 2), np.float32), [0, 1])])
    with pytest.raises(ValueError, match=r"shard-00000.*F16.*shard-00001.*F32"):
        RowsView(tmp_path)
    rows_store([(np.zeros((2, 4, 2, 2), np.float16), [0, 1]),
                (np.zeros((2, 5, 2, 2), np.float16), [0, 1])])
    with pytest.raises(ValueError, match=r"shard-00000.*\[2, 4, 2, 2\].*shard-00001.*\[2, 5"):
        RowsView(tmp_path)


def test_bad_arguments(tmp_path, rows_store):
    rows_store([(np.zeros((2, 4, 2, 2), np.float32), [0, 1])])
    with pytest.raises(ValueError, match="labels='x'"):
        RowsView(tmp_path, labels="x")
    with pytest.raises(ValueError, match="process_index=2"):
        RowsView(tmp_path, process_index=2, process_count=2)
    with pytest.raises(FileNotFoundError):
        RowsView(tmp_path / "nope")
