"""A tiny activation store for the runners' unit tests: planted rows (known atoms per class) with
a GAP + linear head, its logits and predictions (``tests._builders.write_headed_store``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._builders import write_headed_store

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"


@pytest.fixture(scope="package")
def tiny_store(tmp_path_factory):
    from jaxconcepts.store import ActivationStore

    path = tmp_path_factory.mktemp("tiny") / "activations"
    return ActivationStore(write_headed_store(path, n_images=24, channels=16, hw=(4, 4),
                                              images_per_shard=10, pred_from_head=True))
