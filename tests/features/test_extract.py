"""Extraction end to end into an activation store, and its bad input (unreadable files, NaN)."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.features import extract
from jaxconcepts.features._extract import NonFiniteActivationError
from jaxconcepts.store import ActivationStore
from tests.features.conftest import write_image


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
