"""Image folders: layouts, colour-mode conversion, and every kind of bad input."""

import numpy as np
import pytest
from PIL import Image

from jaxconcepts.features import ImageLoadError, list_images, load_rgb
from tests.features.conftest import write_image


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "CMYK", "I;16", "1"])
def test_every_mode_becomes_8bit_rgb(tmp_path, mode):
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = write_image(tmp_path / f"img{suffix}", mode=mode)
    im = load_rgb(path)
    assert im.mode == "RGB" and im.size == (40, 30)
    assert np.asarray(im).dtype == np.uint8


def test_16bit_uses_the_full_range(tmp_path):
    a = np.array([[0, 1000], [2000, 4000]], np.uint16)
    Image.fromarray(a).save(tmp_path / "x.png")
    got = np.asarray(load_rgb(tmp_path / "x.png"))[..., 0]
    np.testing.assert_array_equal(got, [[0, 64], [128, 255]])


def test_transparent_pixels_become_white(tmp_path):
    a = np.zeros((2, 2, 4), np.uint8)  # fully transparent black
    Image.fromarray(a, "RGBA").save(tmp_path / "t.png")
    assert (np.asarray(load_rgb(tmp_path / "t.png")) == 255).all()


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"])
def test_corrupt_image_raises_a_clear_error(tmp_path, content):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageLoadError, match="bad.png"):
        load_rgb(p)


def test_truncated_jpeg_is_an_error(tmp_path):
    p = write_image(tmp_path / "t.jpg", size=(64, 64))
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ImageLoadError):
        load_rgb(p)


def test_flat_and_imagefolder_layouts(tmp_path, image_folder):
    recs, skipped = list_images(image_folder)
    assert ([(r.path.name, r.label_name) for r in recs]
            == [("x.png", "a"), ("y.jpg", "a"), ("z.png", "b")])
    assert skipped == []
    flat = tmp_path / "flat"
    write_image(flat / "b.png")
    write_image(flat / "a.png")
    (flat / "notes.txt").write_text("hi")
    recs, skipped = list_images(flat)
    assert [(r.path.name, r.label_name) for r in recs] == [("a.png", None), ("b.png", None)]
    assert skipped[0]["path"].endswith("notes.txt") and "suffix" in skipped[0]["reason"]


def test_empty_folder_fails_clearly(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="contains no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_uint8_workers_plus_batch_normalisation_equal_timms_transform(tmp_path, tiny_model):
    """Workers ship uint8 pixels; normalising the batch gives timm's transform bit for bit."""
    import torch

    from jaxconcepts.features._loader import collate as _collate
    from jaxconcepts.features._preprocess import make_transform, normalize_batch, split_transform

    ims = [load_rgb(write_image(tmp_path / f"{i}.png", size=(90 + i, 70), seed=i))
           for i in range(3)]
    ref = torch.stack([make_transform(tiny_model.data_config)(im) for im in ims])
    pil_ops, mean, std = split_transform(tiny_model.data_config)
    items = [(i, torch.from_numpy(np.array(pil_ops(im), np.uint8)), None, [], None)
             for i, im in enumerate(ims)]
    _, x = _collate(items)
    got = normalize_batch(x, mean, std)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, ref)


def test_jpeg_draft_decodes_large_jpegs_smaller_and_says_so(tmp_path, tiny_model):
    from jaxconcepts.features._images import load_image
    from jaxconcepts.features._preprocess import split_transform

    yy, xx = np.mgrid[0:500, 0:600]
    smooth = np.stack([127 + 100 * np.sin(xx / 37 + c) * np.cos(yy / 23) for c in range(3)], -1)
    big = tmp_path / "big.jpg"
    Image.fromarray(smooth.astype(np.uint8)).save(big, quality=95)
    full, notes = load_image(big, resize_short=67)
    assert full.size == (600, 500) and notes == []
    small, notes = load_image(big, resize_short=67, jpeg_draft=2)
    # 2 x 67 = 134 <= 500 / 3: libjpeg's largest scale keeping >= 134 px is 1/2
    assert small.size == (300, 250) and notes == ["JPEG 600x500 decoded at 300x250 (draft)"]
    same, notes = load_image(big, resize_short=67, jpeg_draft=4)  # 268 > 500 / 2: no draft
    assert same.size == (600, 500) and notes == []
    png = tmp_path / "big.png"
    Image.fromarray(smooth.astype(np.uint8)).save(png)
    assert load_image(png, resize_short=67, jpeg_draft=2)[0].size == (600, 500)  # JPEG only
    ops, _, _ = split_transform(tiny_model.data_config)
    d = np.abs(np.asarray(ops(small), int) - np.asarray(ops(full), int))
    assert d.mean() < 2, d.mean()  # close to the full decode's pixels, not equal
