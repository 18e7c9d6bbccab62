"""The training loop (features/_train.py) and the train stage: a tiny seeded run, and the
checkpoint round trip through load_model."""

import json

import numpy as np
import pytest
import torch

from jaxconcepts.features import _train as train

KW = {"num_classes": 2, "channels": [8, 8, 16, 16], "stem_width": 8, "output_stride": 8,
      "pretrained_cfg_overlay": {"crop_pct": 1.0}}


def _tiny(seed):
    import timm

    torch.manual_seed(seed)
    model = timm.create_model("resnet10t", pretrained=False, **KW)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 3, 32, 32, generator=g), torch.arange(12) % 2
    steps, _ = train.train_classifier(model, x, y, epochs=1, batch_size=4, lr=1e-2,
                                      weight_decay=0.0, seed=seed, label_smoothing=0.0,
                                      augment=True, progress=False)
    return model, x, steps


@pytest.mark.slow
def test_training_is_deterministic_by_seed():
    a, x, sa = _tiny(0)
    b, _, sb = _tiny(0)
    c, _, _ = _tiny(1)
    assert [s["loss"] for s in sa] == [s["loss"] for s in sb] and len(sa) == 3
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    with torch.no_grad():
        assert not torch.equal(a(x), c(x))


@pytest.mark.slow
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
                               batch_size=1, lr=1.0, weight_decay=0.0, seed=0, label_smoothing=0.0,
                               augment=False, progress=False)


def test_fit_classifier_leaves_the_global_rng_alone(tmp_path):
    from jaxconcepts.datasets import PlantedConfig, write_planted

    cfg = PlantedConfig(image_size=32, n_classes=2)
    meta = write_planted(tmp_path / "images", tmp_path / "prepare", cfg, n_train=4, n_val=0,
                         n_test=2, seed=0)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    kw = dict(class_folders=meta["class_folders"], class_names=meta["classes"], image_size=32,
              train_dir=tmp_path / "prepare/train", val_dir=None, test_dir=tmp_path / "images",
              epochs=1, batch_size=2, lr=1e-2, weight_decay=0.0, label_smoothing=0.0,
              augment=True, seed=0, threads=1, progress=False)
    m1, s1 = train.fit_classifier("resnet10t", KW, out_dir=tmp_path / "m1", **kw)
    assert torch.equal(torch.random.get_rng_state(), before)  # seeded locally, not globally
    m2, s2 = train.fit_classifier("resnet10t", KW, out_dir=tmp_path / "m2", **kw)
    assert [s["loss"] for s in s1] == [s["loss"] for s in s2] and m1["test_acc"] == m2["test_acc"]
    assert (tmp_path / "m1/model.safetensors").read_bytes() == \
        (tmp_path / "m2/model.safetensors").read_bytes()


@pytest.mark.slow
def test_train_stage_end_to_end(tmp_path, monkeypatch):
    from jaxconcepts.stages import prepare
    from jaxconcepts.stages import train as train_stage
    from tests._params import write_params

    monkeypatch.chdir(tmp_path)
    datasets = {"planted": {"prepare": {"source": "planted"}}}
    small = dict(
        planted={"seed": 0, "image_size": 32, "n_classes": 2, "n_train": 8, "n_val": 2,
                 "n_test": 4},
        train={"epochs": 1, "batch_size": 4, "threads": 1,
               "model_kwargs": {"channels": [8, 8, 16, 16], "stem_width": 8, "output_stride": 8,
                                "pretrained_cfg_overlay": {"crop_pct": 1.0}}},
    )
    write_params(tmp_path / "params.yaml", datasets=datasets, **small)
    prepare.main(["--dataset", "planted"])
    train_stage.main([])
    m = json.loads((tmp_path / "reports/planted/train.json").read_text())
    assert m["n_train"] == 8 and m["n_test"] == 4 and m["steps"] == 2
    assert 0.0 <= m["test_acc"] <= 1.0 and m["feature_shape"] == [16, 4, 4]
    assert m["head_kind"] == "gap_linear"
    rows = (tmp_path / "reports/planted/train_loss.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,loss,lr" and len(rows) == 3
    info = json.loads((tmp_path / "data/planted/model/model.json").read_text())
    assert info["model_kwargs"]["num_classes"] == 2 and info["image_size"] == 32
    write_params(tmp_path / "params.yaml", datasets=datasets, train={"epoch": 1})
    with pytest.raises(ValueError, match=r"unknown keys \['epoch'\]"):
        train_stage.main([])
