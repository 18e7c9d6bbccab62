"""Any layer: g up to a named block, h = the rest of the network (torch), rebuilt from the store."""

import numpy as np
import pytest
import torch

from jaxconcepts.features import (
    extract,
    load_model,
    load_model_from_params,
    load_model_from_store,
    torch_head,
)
from jaxconcepts.store import ActivationStore
from tests.features.conftest import write_image


def _folder(root, n=3):
    for i in range(n):
        write_image(root / f"{i}.png", size=(48, 40), seed=i)
    return root


def _check_store_rebuilds_h(tmp_path, lm, layer):
    root = _folder(tmp_path / "images")
    m = extract(lm, root, tmp_path / "activations", batch_size=2, shard_size=2, progress=False)
    store = ActivationStore(tmp_path / "activations")
    assert m["layer"] == layer and m["rebuild"]["layer"] == layer and m["head"]["kind"] == "torch"
    assert store.head is None  # no closed form: h is the torch rest of the network
    A = store.read("activations")
    rebuilt = load_model_from_store(store)
    assert rebuilt.layer == layer and rebuilt.weights == lm.weights
    with torch.inference_mode():
        z = rebuilt.h(torch.from_numpy(A)).numpy()
    np.testing.assert_allclose(z, store.read("logits"), rtol=1e-4, atol=1e-4)
    from jaxconcepts.heads import HostHead

    head = HostHead(torch_head(store), batch_size=256)  # what the importance stage runs
    np.testing.assert_allclose(head.fn(A), store.read("logits"), rtol=1e-4, atol=1e-4)
    _check_occlusion_through_torch_h(A, store, rebuilt, head)
    return A


def _check_occlusion_through_torch_h(A, store, lm, head):
    """Eq. 3 with h = the rest of the network: concept 0 occluded, recomputed by hand."""
    from jaxconcepts.importance import concept_importance

    C = A.shape[1]
    labels = np.tile(np.arange(C) % 3, (len(A), 1)).astype(np.int32)
    pred = store.read("pred")
    res = concept_importance(A, labels, np.zeros_like(labels), pred, head=head, n_concepts=3,
                             n_sub=1)
    masked = A * (labels[:, :, None, None] != 0)
    with torch.inference_mode():
        p = torch.softmax(lm.h(torch.from_numpy(A)), -1).numpy()
        pm = torch.softmax(lm.h(torch.from_numpy(masked)), -1).numpy()
    rows = np.arange(len(A))
    want = (p[rows, pred] - pm[rows, pred]) / p[rows, pred] * 100
    np.testing.assert_allclose(np.asarray(res.importance)[:, 0], want, rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_embedded_model_at_an_intermediate_block(tmp_path):
    lm = load_model("tf_efficientnet_lite0", weights="embedded", image_size=128, layer="blocks.4")
    A = _check_store_rebuilds_h(tmp_path, lm, "blocks.4")
    assert A.shape == (3, 112, 8, 8)  # stage 4 of lite0: 112 channels at stride 16


@pytest.mark.slow
def test_random_vit_at_a_block_index(tmp_path):
    lm = load_model("vit_tiny_patch16_224", weights="random", image_size=32, layer=5,
                    class_token=False, global_pool="avg", seed=3)
    assert lm.tokens and lm.weights["name"] == "random(seed=3)"
    A = _check_store_rebuilds_h(tmp_path, lm, "blocks.5")
    assert A.shape == (3, 192, 2, 2)


@pytest.mark.slow
def test_resnet_feature_info_name_and_default_layer(tmp_path, tiny_model):
    lm = load_model("resnet10t", weights="random", image_size=64, num_classes=5, layer="layer3")
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        np.testing.assert_allclose(lm.h(lm.g(x)), lm.model(x), rtol=1e-4, atol=1e-5)
    assert lm.g(x).shape == (2, 256, 4, 4)
    assert tiny_model.layer is None and tiny_model.head_kind == "gap_linear"


@pytest.mark.slow
def test_bad_layers_are_clear():
    with pytest.raises(ValueError, match="not a module.*feature_info blocks.*layer3"):
        load_model("resnet10t", weights="random", image_size=32, layer="layer9")
    with pytest.raises(ValueError, match="not an index"):
        load_model("resnet10t", weights="random", image_size=32, layer=12)
    with pytest.raises(ValueError, match="class_token: false"):  # the grid drops the CLS token
        load_model("vit_tiny_patch16_224", weights="random", image_size=32, layer=2)


def test_random_init_is_seeded_without_touching_the_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = load_model("resnet10t", weights="random", image_size=32, seed=1)
    after = torch.rand(1)
    b = load_model("resnet10t", weights="random", image_size=32, seed=1)
    c = load_model("resnet10t", weights="random", image_size=32, seed=2)
    assert torch.equal(before, after)
    assert a.weights["sha256"] == b.weights["sha256"] != c.weights["sha256"]


def test_loader_from_params_and_store_checks_the_checkpoint(tmp_path, tiny_model):
    from safetensors.torch import save_file

    ckpt = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_model.model.state_dict().items()}, str(ckpt))
    p = {"model": "resnet10t", "weights": str(ckpt), "image_size": 64, "layer": None,
         "model_kwargs": {"num_classes": 5}}
    lm = load_model_from_params(p)
    assert lm.weights["name"] == "m.safetensors"  # absolute path: only the file name is kept
    root = _folder(tmp_path / "images", 2)
    extract(lm, root, tmp_path / "activations", batch_size=2, shard_size=2, progress=False)
    store = ActivationStore(tmp_path / "activations")
    with pytest.raises(FileNotFoundError, match="pass weights="):
        load_model_from_store(store)
    assert load_model_from_store(store, weights=ckpt).weights == lm.weights
    ckpt.write_bytes(ckpt.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ValueError, match="sha256"):
        load_model_from_store(store, weights=ckpt)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_store_reads_back_as_float32(tmp_path, tiny_model, dtype):
    root = _folder(tmp_path / "images")
    kw = dict(batch_size=2, shard_size=2, progress=False)
    extract(tiny_model, root, tmp_path / "f32", **kw)
    extract(tiny_model, root, tmp_path / dtype, dtype=dtype, **kw)
    ref, half = ActivationStore(tmp_path / "f32"), ActivationStore(tmp_path / dtype)
    assert str(half.dtype) == dtype
    b = next(half.iter_batches(3))
    assert b.activations.dtype == np.float32
    np.testing.assert_allclose(b.activations, ref.read("activations"), rtol=1e-2, atol=1e-2)
    assert str(next(half.iter_batches(3, dtype=None)).activations.dtype) == dtype
    assert (sum(p.stat().st_size for p in half.path.glob("shard-*"))
            < 0.6 * sum(p.stat().st_size for p in ref.path.glob("shard-*")))


def test_autocast_bfloat16_stays_close_and_rejects_unknown(tmp_path, tiny_model):
    root = _folder(tmp_path / "images")
    kw = dict(batch_size=3, shard_size=3, progress=False)
    extract(tiny_model, root, tmp_path / "f32", **kw)
    extract(tiny_model, root, tmp_path / "amp", autocast="bfloat16", **kw)
    a, b = (ActivationStore(tmp_path / d).read("activations") for d in ("f32", "amp"))
    assert not np.array_equal(a, b)  # it did run in bfloat16
    np.testing.assert_allclose(b, a, rtol=0.1, atol=0.1 * np.abs(a).max())
    with pytest.raises(ValueError, match="autocast='int8'; valid choices"):
        extract(tiny_model, root, tmp_path / "x", autocast="int8", **kw)
