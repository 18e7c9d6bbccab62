"""CRAFT's crop activations (``features._crops``): determinism, equivalence with g, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jaxconcepts.features._crops import crop_and_resize, crop_boxes, extract_crops
from jaxconcepts.features._extract import extract, make_transform
from jaxconcepts.features._images import load_rgb
from jaxconcepts.store import ActivationStore, RowsView, read_crop_store


def test_crop_boxes_depend_only_on_seed_and_index():
    a = crop_boxes(3, seed=0, n_crops=5, size=(64, 64), crop_fraction=0.5)
    assert np.array_equal(a, crop_boxes(3, seed=0, n_crops=5, size=(64, 64), crop_fraction=0.5))
    assert not np.array_equal(a, crop_boxes(4, seed=0, n_crops=5, size=(64, 64), crop_fraction=0.5))
    assert not np.array_equal(a, crop_boxes(3, seed=1, n_crops=5, size=(64, 64), crop_fraction=0.5))
    assert np.all(a[:, 2:] == 32) and np.all(a[:, :2] >= 0) and np.all(a[:, :2] + 32 <= 64)
    with pytest.raises(ValueError, match="crop_fraction"):
        crop_boxes(0, seed=0, n_crops=2, size=(8, 8), crop_fraction=0.0)


def test_whole_image_crop_is_the_image():
    x = torch.rand(3, 16, 16)
    out = crop_and_resize(x, np.array([[0, 0, 16, 16]]))
    assert torch.allclose(out[0], x, atol=1e-6)


@pytest.mark.slow
def test_extract_crops_matches_g_on_each_crop(tmp_path, tiny_model, image_folder):
    store_dir = tmp_path / "store"
    extract(tiny_model, image_folder, store_dir, batch_size=2, shard_size=4, progress=False)
    store = ActivationStore(store_dir)
    out = tmp_path / "crops"
    meta = extract_crops(tiny_model, store, out, n_crops=3, crop_fraction=0.5, seed=7,
                         batch_size=4, progress=False)
    a = _crops(out, store)
    C = store.shape[0]
    assert a["crops"].shape == (3, 3, C) and meta["n_crops"] == 3
    for k in ("pred", "label", "target"):  # per-image fields copied from the activation store
        assert np.array_equal(a[k], store.read(k, dtype=np.int32))
    assert a["index"].tolist() == [r["index"] for r in store.images]
    # image 1's crops, recomputed by hand through g, averaged over space
    rec = store.images[1]
    x = make_transform(tiny_model.data_config)(load_rgb(rec["path"]))
    boxes = crop_boxes(rec["index"], seed=7, n_crops=3, size=tuple(x.shape[-2:]),
                       crop_fraction=0.5)
    assert np.array_equal(a["boxes"][1], boxes)
    with torch.inference_mode():
        ref = tiny_model.model.forward_features(crop_and_resize(x, boxes)).mean((2, 3)).numpy()
    np.testing.assert_allclose(a["crops"][1], ref, rtol=1e-4, atol=1e-5)
    # another batch size gives the same rows
    out2 = tmp_path / "crops2"
    extract_crops(tiny_model, store, out2, n_crops=3, crop_fraction=0.5, seed=7, batch_size=3,
                  progress=False)
    np.testing.assert_allclose(_crops(out2, store)["crops"], a["crops"], rtol=1e-5, atol=1e-6)
    # the crop store streams like an activation store: one row per crop, the image's class
    rv = RowsView(out, images_per_batch=2, labels="pred")
    assert rv.rows_per_image == 3 and rv.channels == C and rv.n_rows == 9
    got = np.concatenate([b.A[b.valid] for b in rv])
    np.testing.assert_allclose(got, a["crops"], rtol=0, atol=0)


def _crops(path, store):
    """A crop store's arrays, concatenated: ``crops (N, n_crops, C)``, boxes, per-image fields."""
    import json

    from jaxconcepts.store import read_shard

    read_crop_store(path, check_index=store.read("index", dtype=np.int32))
    shards = [read_shard(path / s["file"]) for s in
              json.loads((path / "manifest.json").read_text())["shards"]]
    out = {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}
    out["crops"] = out.pop("activations")[..., 0].transpose(0, 2, 1)
    return out


def test_changed_image_is_an_error_and_writes_nothing(tmp_path, tiny_model, image_folder):
    store_dir = tmp_path / "store"
    extract(tiny_model, image_folder, store_dir, batch_size=2, shard_size=4, progress=False)
    store = ActivationStore(store_dir)
    from PIL import Image

    Image.new("RGB", (40, 30), (1, 2, 3)).save(store.images[0]["path"])
    out = tmp_path / "crops"
    with pytest.raises(ValueError, match="changed since extraction"):
        extract_crops(tiny_model, store, out, n_crops=2, progress=False)
    assert not out.exists()
