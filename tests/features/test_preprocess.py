"""Extraction's split transform: torch's uint8 resize vs timm's PIL ops, loader normalisation."""

import types

import numpy as np
import pytest
import torch
from PIL import Image

from jaxconcepts.features._preprocess import (
    ResizeCrop,
    make_transform,
    normalize_batch,
    normalize_uint8,
    split_transform,
)


def _photo(size, seed):
    """A smooth image with edges (noise alone would hide resampling differences)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    a = np.stack([np.sin(9 * xx + c) * np.cos(7 * yy - c) for c in range(3)], -1)
    a = 127.5 * (a + 1) + rng.normal(0, 12, a.shape)
    a[h // 3: h // 2, w // 4: w // 2] = [255, 0, 40]  # a hard-edged block
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("size", [(300, 200), (67, 67), (50, 40), (61, 300), (1000, 90)])
def test_torch_resize_is_within_one_grey_level_of_timms_pil_ops(tiny_model, size):
    pil, _, _ = split_transform(tiny_model.data_config, resize="pil")
    fast, _, _ = split_transform(tiny_model.data_config, resize="torch")
    assert isinstance(fast, ResizeCrop)
    im = _photo(size, seed=sum(size))
    ref = np.asarray(pil(im), np.int16)
    got = fast(im)
    assert got.dtype == torch.uint8 and tuple(got.shape) == ref.shape
    d = np.abs(got.numpy().astype(np.int16) - ref)
    assert d.max() <= 1 and d.mean() < 0.05, (d.max(), d.mean())


def test_torch_resize_follows_torchvisions_geometry_exactly_at_scale_one(tiny_model):
    """No resize needed (the short side already has the size): a pure centre crop, bit for bit."""
    pil, _, _ = split_transform(tiny_model.data_config, resize="pil")
    fast, _, _ = split_transform(tiny_model.data_config, resize="torch")
    im = _photo((fast.size, fast.size + 31), seed=3)
    assert np.array_equal(fast(im).numpy(), np.asarray(pil(im)))


def test_other_transforms_and_bad_choices(tiny_model):
    squash = dict(tiny_model.data_config, crop_mode="squash")
    ops, mean, std = split_transform(squash, resize="torch")
    assert not isinstance(ops, ResizeCrop) and mean is not None  # timm's PIL ops, unchanged
    with pytest.raises(ValueError, match="resize='cv2'; expected one of"):
        split_transform(tiny_model.data_config, resize="cv2")


def test_loader_normalisation_is_timms_bit_for_bit(tiny_model):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 9, 11, 3), dtype=np.uint8)
    _, mean, std = split_transform(tiny_model.data_config)
    got = torch.from_numpy(normalize_uint8(x, mean, std)).permute(0, 3, 1, 2)
    ref = normalize_batch(torch.from_numpy(x).permute(0, 3, 1, 2), mean, std)
    assert got.dtype == torch.float32 and torch.equal(got, ref)
    tf = make_transform(tiny_model.data_config)  # and timm's own ToTensor + Normalize
    assert torch.equal(tf.transforms[-1](tf.transforms[-2](Image.fromarray(x[0]))), got[0])


def test_extract_refuses_a_draft_below_one(tmp_path, tiny_model):
    from jaxconcepts.features import extract

    with pytest.raises(ValueError, match="jpeg_draft=0.5 should be None or >= 1"):
        extract(tiny_model, tmp_path, tmp_path / "s", batch_size=2, shard_size=2,
                jpeg_draft=0.5, progress=False)


@pytest.mark.parametrize("resize", ["pil", "torch"])
def test_model_input_is_the_tensor_extraction_feeds_the_model(tmp_path, tiny_model, resize):
    """What the crops stage re-reads: the loaders' decode + resize + normalisation, bit for bit."""
    from jaxconcepts.features._loader import ImageDataset, collate
    from jaxconcepts.features._preprocess import model_input

    path = tmp_path / "a.png"
    _photo((300, 200), seed=5).save(path)
    cfg = tiny_model.data_config
    ops, mean, std = split_transform(cfg, resize=resize)
    short = int(cfg["input_size"][-1] / float(cfg.get("crop_pct") or 1.0))

    rec = types.SimpleNamespace(path=path)
    _, x = collate([ImageDataset([rec], ops, short)[0]], normalize=(mean, std))
    got = model_input(cfg, resize=resize)(path)
    assert got.dtype == torch.float32 and torch.equal(got, x[0])
