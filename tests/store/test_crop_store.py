"""The crop store (jaxconcepts/store/_crop_store.py): crops kept as an activation store whose
spatial positions are the crops."""

import json

import numpy as np
import pytest

from jaxconcepts.store import RowsView, read_shard
from jaxconcepts.store._crop_store import (
    CropStoreWriter, read_crop_boxes, read_crop_store, write_crop_store,
)

N, K, C = 5, 3, 4  # images, crops per image, channels


def _crops(seed=0):
    rng = np.random.default_rng(seed)
    crops = rng.normal(size=(N, K, C)).astype(np.float32)
    boxes = rng.integers(0, 32, size=(N, K, 4)).astype(np.int32)
    idx = np.array([7, 3, 9, 0, 4])
    fields = dict(index=idx, pred=idx % 2, target=idx % 3, label=idx % 2)
    return crops, boxes, fields


def test_round_trip_in_shards(tmp_path):
    crops, boxes, fields = _crops()
    path = tmp_path / "crops"
    m = write_crop_store(path, crops, boxes=boxes, shard_size=2, meta={"model": "m"}, **fields)
    assert m["kind"] == "crops" and m["model"] == "m" and m["n_images"] == N
    assert (m["n_crops"], m["channels"]) == (K, C)
    assert [s["rows"] for s in m["shards"]] == [2, 2, 1]
    assert read_crop_store(path) == json.loads((path / "manifest.json").read_text())
    np.testing.assert_array_equal(read_crop_boxes(path), boxes)
    shards = [read_shard(path / s["file"]) for s in m["shards"]]
    acts = np.concatenate([s["activations"] for s in shards])
    assert acts.shape == (N, C, K, 1) and acts.dtype == np.float32
    np.testing.assert_array_equal(acts[..., 0].transpose(0, 2, 1), crops)
    for k, v in fields.items():
        got = np.concatenate([s[k] for s in shards])
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, v)


def test_rows_view_streams_the_crops_as_positions(tmp_path):
    crops, boxes, fields = _crops(1)
    write_crop_store(tmp_path, crops, boxes=boxes, shard_size=2, **fields)
    rv = RowsView(tmp_path, images_per_batch=N)
    assert rv.n_rows == N * K and rv.channels == C
    (batch,) = list(rv)
    np.testing.assert_array_equal(batch.A[batch.valid], crops)  # (images, crops, C)
    np.testing.assert_array_equal(batch.y[batch.valid], fields["pred"])


def test_check_index_and_missing_or_foreign_stores(tmp_path):
    crops, boxes, fields = _crops()
    path = tmp_path / "crops"
    write_crop_store(path, crops, boxes=boxes, **fields)
    read_crop_store(path, check_index=fields["index"])
    with pytest.raises(ValueError, match=r"missing ids \[1\]\): stale crops"):
        read_crop_store(path, check_index=[7, 3, 9, 0, 1])
    with pytest.raises(ValueError, match="does not hold the activation store's images in order"):
        read_crop_store(path, check_index=fields["index"][::-1])
    with pytest.raises(FileNotFoundError, match="no crop store at .*run the crops stage"):
        read_crop_boxes(tmp_path / "none")
    (tmp_path / "acts").mkdir()
    (tmp_path / "acts" / "manifest.json").write_text(json.dumps({"kind": "activations"}))
    with pytest.raises(ValueError, match="is not a crop store .*'activations'"):
        read_crop_store(tmp_path / "acts")


def test_writer_checks_and_writes_nothing_on_failure(tmp_path):
    crops, boxes, fields = _crops()
    path = tmp_path / "crops"
    with pytest.raises(ValueError, match="shard_size=0 should be >= 1"):
        CropStoreWriter(path, n_crops=K, channels=C, shard_size=0)
    with pytest.raises(ValueError, match=r"crops should be \(b, n_crops=3, C=4\), got \(5, 3, 2\)"):
        with CropStoreWriter(path, n_crops=K, channels=C) as w:
            w.add(crops[..., :2], boxes, **fields)
    with pytest.raises(ValueError, match=r"missing per-image fields \['label', 'target'\]"):
        with CropStoreWriter(path, n_crops=K, channels=C) as w:
            w.add(crops, boxes, index=fields["index"], pred=fields["pred"])
    assert not path.exists() and list(tmp_path.iterdir()) == []
