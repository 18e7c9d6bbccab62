"""The train stage: a tiny seeded run, and the checkpoint round trip through load_model."""

import json

import numpy as np
import pytest
import torch

from jaxconcepts.stages import train

KW = {"num_classes": 2, "channels": [8, 8, 16, 16], "stem_width": 8, "output_stride": 8,
      "pretrained_cfg_overlay": {"crop_pct": 1.0}}


def _tiny(seed):
    import timm

    torch.manual_seed(seed)
    model = timm.create_model("resnet10t", pretrained=False, **KW)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 3, 32, 32, generator=g), torch.arange(12) % 2
    steps, _ = train.train_classifier(model, x, y, epochs=1, batch_size=4, lr=1e-2,
                                      weight_decay=0.0, seed=seed, progress=False)
    return model, x, steps


def test_training_is_deterministic_by_seed():
    a, x, sa = _tiny(0)
    b, _, sb = _tiny(0)
    c, _, _ = _tiny(1)
    assert [s["loss"] for s in sa] == [s["loss"] for s in sb] and len(sa) == 3
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    with torch.no_grad():
        assert not torch.equal(a(x), c(x))


def test_checkpoint_round_trip_through_load_model(tmp_path):
    from jaxconcepts.features import CheckpointMismatchError, load_model

    model, x, _ = _tiny(0)
    path = train.save_model(model, tmp_path, {"model": "resnet10t", "model_kwargs": KW})
    info = json.loads((tmp_path / "model.json").read_text())
    lm = load_model(info["model"], weights=str(path), image_size=32, **info["model_kwargs"])
    with torch.no_grad():
        np.testing.assert_array_equal(lm.model(x).numpy(), model(x).numpy())
    assert lm.head_kind == "gap_linear" and lm.data_config["crop_pct"] == 1.0
    assert lm.weights["source"] == "file"
    with pytest.raises(CheckpointMismatchError):
        load_model("resnet10t", weights=str(path), **{**KW, "num_classes": 3})


def test_bad_hyperparameters_are_rejected():
    m = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="epochs"):
        train.train_classifier(m, torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), epochs=0,
                               batch_size=1, lr=1.0, weight_decay=0.0, seed=0, progress=False)


@pytest.mark.slow
def test_train_stage_end_to_end(tmp_path, monkeypatch):
    from jaxconcepts.stages import planted

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        "datasets:\n  planted: {}\n"
        "planted: {seed: 0, image_size: 32, n_classes: 2, n_train: 8, n_val: 2, n_test: 4}\n"
        "train: {epochs: 1, batch_size: 4, threads: 1, model_kwargs: {channels: [8, 8, 16, 16],"
        " stem_width: 8, output_stride: 8, pretrained_cfg_overlay: {crop_pct: 1.0}}}\n"
    )
    planted.main([])
    train.main([])
    m = json.loads((tmp_path / "reports/planted/train.json").read_text())
    assert m["n_train"] == 8 and m["n_test"] == 4 and m["steps"] == 2
    assert 0.0 <= m["test_acc"] <= 1.0 and m["feature_shape"] == [16, 4, 4]
    assert m["head_kind"] == "gap_linear"
    rows = (tmp_path / "reports/planted/train_loss.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,loss,lr" and len(rows) == 3
    info = json.loads((tmp_path / "data/planted/model/model.json").read_text())
    assert info["model_kwargs"]["num_classes"] == 2 and info["image_size"] == 32
    (tmp_path / "params.yaml").write_text("datasets:\n  planted: {}\ntrain: {epoch: 1}\n")
    with pytest.raises(ValueError, match="unknown train params"):
        train.main([])
