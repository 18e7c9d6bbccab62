"""A tiny activation store for the runners' unit tests: planted rows (known atoms per class) with
a GAP + linear head that separates the classes, written with public functions only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"


@pytest.fixture(scope="package")
def tiny_store(tmp_path_factory):
    from jaxconcepts.store import ActivationStore, read_shard, write_shard
    from jaxconcepts.streaming import write_synthetic_store

    path = tmp_path_factory.mktemp("tiny") / "activations"
    n_classes, c = 3, 16
    manifest = write_synthetic_store(path, n_images=24, channels=c, hw=(4, 4), k=6,
                                     n_classes=n_classes, dtype="float32", nonnegative=True,
                                     noise=0.01, images_per_shard=10)
    w = np.random.default_rng(0).standard_normal((n_classes, c)).astype(np.float32)
    write_shard(path / "head.safetensors", {"weight": w, "bias": np.zeros(n_classes, np.float32)})
    for shard in manifest["shards"]:  # the head's logits and probabilities, as extraction writes
        t = dict(read_shard(path / shard["file"]))
        z = t["activations"].mean(axis=(2, 3)) @ w.T
        e = np.exp(z - z.max(axis=1, keepdims=True))
        t["logits"], t["prob"] = z, (e / e.sum(axis=1, keepdims=True)).max(axis=1)
        t["pred"] = z.argmax(1).astype(np.int32)
        write_shard(path / shard["file"], t)
    return ActivationStore(path)
