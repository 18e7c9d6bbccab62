"""The ``ood`` stage on a hand-made store: crops the model is unsure about are detected as OOD."""

import json

import numpy as np
import pytest

from jaxconcepts.features._crop_store import write_crop_store
from jaxconcepts.features import HeadParams, StoreWriter
from tests._params import write_params


def _setup(tmp, *, n=12, n_crops=4, C=6, K=3, min_images=50):
    rng = np.random.default_rng(0)
    weight = np.eye(K, C, dtype=np.float32) * 8.0
    cls = np.arange(n) % K
    # complete images: strongly on their class channel (confident); crops: weak, mixed (unsure)
    pooled = np.eye(C, dtype=np.float32)[cls] + 0.05 * rng.random((n, C), dtype=np.float32)
    acts = np.repeat(np.repeat(pooled[:, :, None, None], 2, 2), 2, 3)
    logits = pooled @ weight.T
    crops = 0.05 * pooled[:, None, :] + 0.1 * rng.random((n, n_crops, C), dtype=np.float32)
    with StoreWriter(tmp / "data/toy/activations", shard_size=5) as w:
        w.add(activations=acts, logits=logits, target=cls, label=cls, pred=cls,
              prob=np.ones(n), index=np.arange(n))
        w.finish({"images": [{"index": i, "path": f"{i}.png"} for i in range(n)],
                  "shape": [C, 2, 2], "model": "toy"},
                 HeadParams(weight, np.zeros(K, np.float32)))
    write_crop_store(tmp / "data/toy/crops", crops, shard_size=5, index=np.arange(n), pred=cls,
                     target=cls, label=cls)
    write_params(tmp / "params.yaml", datasets={"toy": {"model_dep": "x"}},
                 ood={"min_images": min_images})


def test_ood_stage_writes_metrics_table_and_figure(tmp_path, monkeypatch):
    from jaxconcepts.stages import ood

    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    ood.main(["--dataset", "toy"])
    out = json.loads((tmp_path / "reports/toy/ood.json").read_text())
    assert out["n_in"] == 12 and out["n_out"] == 48 and out["n_crops_per_image"] == 4
    assert out["auroc"] == 1.0 and out["delta_mu"] > 0.3 and out["too_small"] is True
    assert out["mu_full"] > out["mu_crops"]
    md = (tmp_path / "reports/toy/ood.md").read_text()
    assert "| ours | toy | toy | 12 | 48 |" in md and "| paper | ImageNet | NF-ResNet50 |" in md
    assert "Too small to conclude" in md and "reproduces" in md
    assert "(confidence.png)" in md
    assert (tmp_path / "reports/toy/confidence.png").stat().st_size > 1000


def test_ood_stage_large_enough_and_stale_crops(tmp_path, monkeypatch):
    from jaxconcepts.stages import ood

    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, min_images=5)
    ood.main(["--dataset", "toy"])
    assert "Too small" not in (tmp_path / "reports/toy/ood.md").read_text()
    three = np.arange(3)
    write_crop_store(tmp_path / "data/toy/crops", np.zeros((3, 4, 6), np.float32), index=three,
                     pred=three, target=three, label=three)
    with pytest.raises(ValueError, match="stale crops, rerun the crops stage"):
        ood.main(["--dataset", "toy"])
    (tmp_path / "data/toy/crops/manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="jaxconcepts crops --dataset toy"):
        ood.main(["--dataset", "toy"])
