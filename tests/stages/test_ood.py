"""The ``ood`` stage on a hand-made store: crops the model is unsure about are detected as OOD."""

import json

import numpy as np
import pytest

from jaxconcepts.store import HeadParams, StoreWriter, write_crop_store
from tests._params import write_params


S = 8  # the toy model input: 8x8 pixels
# per image: the object fills rows and columns 0-3 (16 px); crop 0 keeps all of it, crop 1 half
# (keeps at 0.5), crop 2 a quarter (loses), crop 3 sits at the bottom-right border without it
BOXES = np.array([[0, 0, 4, 4], [0, 2, 4, 4], [2, 2, 4, 4], [4, 4, 4, 4]], np.int32)


def _setup(tmp, *, n=12, n_crops=4, C=6, K=3, min_images=50, keep_object=False):
    """A store of ``n`` confident images and unsure crops; ``keep_object``: crops 0 and 1 (those
    keeping the object) as confident as their image."""
    rng = np.random.default_rng(0)
    weight = np.eye(K, C, dtype=np.float32) * 8.0
    cls = np.arange(n) % K
    # complete images: strongly on their class channel (confident); crops: weak, mixed (unsure)
    pooled = np.eye(C, dtype=np.float32)[cls] + 0.05 * rng.random((n, C), dtype=np.float32)
    acts = np.repeat(np.repeat(pooled[:, :, None, None], 2, 2), 2, 3)
    logits = pooled @ weight.T
    crops = 0.05 * pooled[:, None, :] + 0.1 * rng.random((n, n_crops, C), dtype=np.float32)
    if keep_object:
        crops[:, :2] = pooled[:, None, :] + 0.05 * rng.random((n, 2, C), dtype=np.float32)
    with StoreWriter(tmp / "data/toy/activations", shard_size=5) as w:
        w.add(activations=acts, logits=logits, target=cls, label=cls, pred=cls,
              prob=np.ones(n), index=np.arange(n))
        w.finish({"images": [{"index": i, "path": f"c{cls[i]}/{i}.png"} for i in range(n)],
                  "shape": [C, 2, 2], "model": "toy",
                  "preprocessing": {"input_size": [3, S, S], "crop_pct": 1.0}},
                 HeadParams(weight, np.zeros(K, np.float32)))
    write_crop_store(tmp / "data/toy/crops", crops, boxes=np.broadcast_to(BOXES, (n, 4, 4)),
                     shard_size=5, index=np.arange(n), pred=cls, target=cls, label=cls)
    write_params(tmp / "params.yaml", datasets={"toy": {"model_dep": "x"}},
                 ood={"min_images": min_images, "keep_fraction": 0.5})


def _truth(tmp, *, n=12, K=3, size=S):
    """An objects-style truth (one object per image, ``defining`` its one-hot), rows reversed
    against the store's: they are matched by path."""
    cls = np.arange(n) % K
    part_map = np.full((n, size, size), -1, np.int8)
    part_map[:, :4, :4] = cls[:, None, None]
    rev = np.arange(n)[::-1]
    d = tmp / "data/toy/prepare/truth"
    d.mkdir(parents=True)
    (d / "truth.json").write_text(json.dumps({
        "parts": [f"o{k}" for k in range(K)], "classes": [f"c{k}" for k in range(K)],
        "dataset": "objects",
        "images": {"test": [{"file": f"c{cls[i]}/{i}.png"} for i in rev]}}))
    onehot = np.eye(K, dtype=bool)[cls]
    np.savez(d / "test.npz", part_map=part_map[rev], label=cls[rev].astype(np.int32),
             present=onehot[rev], defining=onehot[rev])


@pytest.mark.slow
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


PLAIN_KEYS = {"dataset", "model", "n_crops_per_image", "too_small", "mu_full", "mu_crops",
              "delta_mu", "agree", "auroc", "aupr_in", "aupr_out", "fpr95", "n_in", "n_out",
              "settings"}


def test_ood_stage_splits_crops_by_object_with_truth(tmp_path, monkeypatch):
    from jaxconcepts.stages import ood

    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, keep_object=True)
    ood.main(["--dataset", "toy"])
    plain = json.loads((tmp_path / "reports/toy/ood.json").read_text())
    plain_md = (tmp_path / "reports/toy/ood.md").read_text()
    assert set(plain) == PLAIN_KEYS and "keep the object" not in plain_md  # no truth: as before

    _truth(tmp_path)
    ood.main(["--dataset", "toy"])
    out = json.loads((tmp_path / "reports/toy/ood.json").read_text())
    assert {k: v for k, v in out.items() if k != "by_object"} == plain  # the rest is unchanged
    by = out["by_object"]
    assert [by[k]["n_crops"] for k in ("all", "keeps", "loses", "none")] == [48, 24, 24, 12]
    assert by["all"]["auroc"] == out["auroc"] and by["all"]["delta_mu"] == out["delta_mu"]
    assert by["loses"]["auroc"] == 1.0 and by["keeps"]["auroc"] < 0.8  # kept: like the image
    assert by["keeps"]["delta_mu"] < 0.1 < 0.3 < by["loses"]["delta_mu"]
    assert by["loses_minus_keeps"]["delta_mu"]["verdict"] == "holds"
    assert by["settings"]["keep_fraction"] == 0.5 and by["settings"]["n_undefined"] == 0
    assert by["keeps"]["auroc_ci"]["lo"] <= by["keeps"]["auroc"] <= by["keeps"]["auroc_ci"]["hi"]
    md = (tmp_path / "reports/toy/ood.md").read_text()
    assert md.startswith(plain_md)
    assert "| keeps the object (≥ 50% of it inside) | 24 | 50% | 12 |" in md
    assert "| loses the object (< 50% inside) | 24 | 50% | 12 |" in md
    assert "| … of which no object pixel (0%) | 12 | 25% | 12 |" in md


def test_ood_stage_truth_of_another_size_is_refused(tmp_path, monkeypatch):
    from jaxconcepts.stages import ood

    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    _truth(tmp_path, size=16)
    with pytest.raises(ValueError, match=r"truth masks are 16x16 but the crop boxes refer to a "
                                         r"8x8 model input"):
        ood.main(["--dataset", "toy"])
