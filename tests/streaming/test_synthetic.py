"""Planted rows and synthetic activation stores (jaxconcepts/streaming/_synthetic.py)."""

import json

import ml_dtypes
import numpy as np
import pytest

from jaxconcepts.store import RowsView, read_shard
from jaxconcepts.streaming._synthetic import (
    planted_atoms, planted_dictionary, planted_rows, write_synthetic_store, write_tensors,
)


def test_planted_atoms_are_unit_rows_drawn_from_the_rng():
    W = planted_atoms(4, 7, rng=0)
    assert W.shape == (4, 7) and W.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0)
    np.testing.assert_array_equal(W, planted_atoms(4, 7, rng=0))
    assert planted_atoms(4, 7, rng=0, nonnegative=True).min() >= 0
    rng = np.random.default_rng(0)
    first, second = planted_atoms(2, 3, rng=rng), planted_atoms(2, 3, rng=rng)
    assert not np.allclose(first, second)  # a Generator is drawn from


def test_planted_dictionary_gives_each_class_its_atoms():
    W, recipes = planted_dictionary(6, 5, 4, seed=1, per_class=2)
    assert W.shape == (6, 5) and W.dtype == np.float32 and recipes.shape == (4, 6)
    assert recipes.dtype == bool and recipes.sum(1).tolist() == [2, 2, 2, 2]
    _, few = planted_dictionary(2, 5, 3, seed=1, per_class=3)
    assert few.all()  # per_class is capped at k


def test_planted_rows_are_codes_on_the_class_recipe_times_the_atoms():
    W, recipes = planted_dictionary(5, 8, 3, seed=0)
    A, y, U = planted_rows(W, recipes, 50, rng=2, noise=0.0)
    assert (A.dtype, y.dtype, U.dtype) == (np.float32, np.int32, np.float32)
    assert A.shape == (50, 8) and U.shape == (50, 5) and set(y) <= {0, 1, 2}
    assert not U[~recipes[y]].any() and U.min() >= 0 and U.max() <= 1
    np.testing.assert_allclose(A, U @ W, atol=1e-5)
    A2, _, _ = planted_rows(W, recipes, 50, rng=2, noise=0.5)
    resid = A2 - U @ W  # the same labels and codes, then the noise
    assert 0.4 < resid.std() < 0.6


def test_write_tensors_round_trips_bfloat16(tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3).astype(ml_dtypes.bfloat16)
    write_tensors(tmp_path / "t.safetensors", {"x": x, "i": np.array([1, 2], np.int32)})
    got = read_shard(tmp_path / "t.safetensors")
    assert got["x"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(got["x"], x)
    np.testing.assert_array_equal(got["i"], [1, 2])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_synthetic_store_is_a_readable_planted_store(tmp_path, dtype):
    m = write_synthetic_store(tmp_path, n_images=7, channels=6, hw=(2, 3), k=4, n_classes=3,
                              images_per_shard=3, dtype=dtype, noise=0.0, seed=5,
                              empty_classes=(1,))
    assert m == json.loads((tmp_path / "manifest.json").read_text())
    assert [s["rows"] for s in m["shards"]] == [3, 3, 1] and m["shape"] == [6, 2, 3]
    shards = [read_shard(tmp_path / s["file"]) for s in m["shards"]]
    act = np.concatenate([s["activations"] for s in shards])
    assert act.shape == (7, 6, 2, 3) and act.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.concatenate([s["index"] for s in shards]), np.arange(7))
    y = np.concatenate([s["pred"] for s in shards])
    assert 1 not in set(y)
    # without noise, every row of a class lies in the span of its recipe's atoms
    W, recipes = planted_dictionary(4, 6, 3, seed=5)
    rows = act.astype(np.float32).reshape(7, 6, 6).transpose(0, 2, 1)
    for i in range(7):
        B = W[recipes[y[i]]]
        coef, *_ = np.linalg.lstsq(B.T, rows[i].T, rcond=None)
        np.testing.assert_allclose(coef.T @ B, rows[i], atol=5e-3)
    rv = RowsView(tmp_path, images_per_batch=4)
    assert rv.n_rows == 7 * 6 and rv.channels == 6
