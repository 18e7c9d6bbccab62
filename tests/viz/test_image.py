"""``viz/_image.py``: the input image as the model saw it (timm's eval transform)."""

import numpy as np
import pytest
from PIL import Image

from jaxconcepts.viz import load_model_view, model_view, to_gray


def _image(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "size, wh, cfg",
    [
        (32, (50, 40), {"crop_pct": 0.875, "interpolation": "bicubic"}),
        (32, (40, 61), {"crop_pct": 1.0, "interpolation": "bilinear"}),
        (24, (30, 30), {"crop_pct": 0.9, "interpolation": "bilinear", "crop_mode": "squash"}),
    ],
)
def test_model_view_matches_timm_eval_transform(size, wh, cfg):
    from timm.data import create_transform

    tf = create_transform(input_size=(3, size, size), is_training=False, **cfg)
    resize_crop = tf.transforms[:2]  # Resize, CenterCrop (then ToTensor, Normalize)
    im = _image(*wh)
    ref = im
    for t in resize_crop:
        ref = t(ref)
    prep = dict(input_size=[3, size, size], **cfg)
    out = model_view(im, prep)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.asarray(ref))


def test_model_view_validation():
    with pytest.raises(ValueError, match="input_size"):
        model_view(_image(8, 8), {})
    with pytest.raises(ValueError, match="interpolation='magic'"):
        model_view(_image(8, 8), {"input_size": [3, 4, 4], "interpolation": "magic"})


def test_model_view_rejects_bad_crop():
    with pytest.raises(ValueError, match="crop_mode='zoom'"):
        model_view(_image(8, 8), {"input_size": [3, 4, 4], "crop_mode": "zoom"})
    with pytest.raises(ValueError, match="crop_pct=1.5"):
        model_view(_image(8, 8), {"input_size": [3, 4, 4], "crop_pct": 1.5})


def test_model_view_non_square_and_gray_input():
    im = Image.new("L", (40, 30), 200)
    out = model_view(im, {"input_size": [3, 6, 8], "crop_pct": 1.0})
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    assert (out == 200).all()


def test_load_model_view_applies_exif_orientation(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = 255  # left half white
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display: the white half goes on top
    path = tmp_path / "im.jpg"
    im.save(path, exif=exif, quality=100)
    out = load_model_view(path, {"input_size": [3, 8, 8], "crop_pct": 1.0,
                                 "crop_mode": "squash"})
    assert out.shape == (8, 8, 3)
    assert out[:3].mean() > 200 and out[-3:].mean() < 50


def test_load_model_view_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model_view(tmp_path / "none.png", {"input_size": [3, 4, 4]})


def test_to_gray_luma_weights():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0]]], np.uint8)
    g = to_gray(rgb)
    assert g.shape == (1, 4) and g.dtype == np.float32
    np.testing.assert_allclose(g[0], [0.299, 0.587, 0.114, 0.0], rtol=1e-6)
