"""``stages/_store.py``: the dataset's activation store as the stages open it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from jaxconcepts.stages._store import open_store
from jaxconcepts.store import StoreWriter
from tests._params import write_params


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    with StoreWriter(tmp_path / "data/toy/activations", shard_size=2) as w:
        w.add(activations=np.ones((2, 3, 2, 2), np.float32), logits=np.zeros((2, 2)),
              target=np.zeros(2), label=-np.ones(2), pred=np.zeros(2), prob=np.ones(2),
              index=np.arange(2))
        w.finish({"model": "fake", "shape": [3, 2, 2], "images": [], "skipped": [],
                  "head": {"kind": "other", "num_classes": 2}, "class_names": None})
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("image_root", "want"), [(None, "data/toy/images"),
                                                   ("/pics", "/pics")])
def test_open_store_image_root(workdir, image_root, want):
    path = write_params(workdir / "params.yaml", datasets={"toy": {}},
                        extract={"image_root": image_root})
    store = open_store(argparse.Namespace(params=str(path), dataset="toy"))
    assert store.path == Path("data/toy/activations")
    assert store.image_root == Path(want)
    assert len(store) == 2


def test_open_store_without_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_params(tmp_path / "params.yaml", datasets={"toy": {}})
    with pytest.raises(FileNotFoundError, match="not an activation store"):
        open_store(argparse.Namespace(params=str(path), dataset="toy"))
