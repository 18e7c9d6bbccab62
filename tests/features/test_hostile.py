"""Hostile image files: each is converted (and the conversion noted) or skipped with a reason."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from jaxconcepts.features import ImageLoadError, extract, load_image
from jaxconcepts.store import ActivationStore
from tests.features.conftest import write_image


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height (no pixel data): a decompression bomb's shape."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def _exif_rotated(path):
    """A 40x20 JPEG whose EXIF says 'rotate 90° clockwise to display' (orientation 6)."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(path, exif=exif, quality=95)


def _hostile(root):
    root.mkdir(parents=True)
    write_image(root / "ok.png", size=(80, 80), seed=1)
    (root / "empty.png").write_bytes(b"")
    p = write_image(root / "truncated.jpg", size=(64, 64), seed=2)
    p.write_bytes(p.read_bytes()[:300])
    (root / "text.jpg").write_text("hello, not an image")
    Image.fromarray(np.full((30, 40, 3), 7, np.uint8)).save(root / "png_content.jpg", format="PNG")
    write_image(root / "photo.png", seed=3).rename(root / "photo.txt")  # image, non-image suffix
    _png_header_only(root / "bomb.png", 30000, 30000)
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    write_image(root / "sixteen.png", mode="I;16", seed=4)
    write_image(root / "cmyk.jpg", mode="CMYK", seed=5)
    pal = Image.new("P", (40, 30))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.info["transparency"] = 0
    pal.save(root / "palette_transparent.png", transparency=0)
    write_image(root / "la.png", mode="LA", seed=6)
    _exif_rotated(root / "rotated.jpg")
    write_image(root / "tiny.png", size=(2, 3), seed=7)
    write_image(root / "sliver.png", size=(30000, 1), seed=8)
    return root


def test_every_hostile_file_is_converted_or_skipped(tmp_path, tiny_model):
    root = _hostile(tmp_path / "images")
    with pytest.warns(UserWarning, match="skipping"):
        m = extract(tiny_model, root, tmp_path / "activations", batch_size=4, shard_size=5,
                    progress=False)
    skipped = {s["path"]: s["reason"] for s in m["skipped"]}
    assert set(skipped) == {"empty.png", "truncated.jpg", "text.jpg", "photo.txt", "bomb.png",
                            "sliver.png"}
    assert skipped["empty.png"] == "empty file"
    assert "truncated" in skipped["truncated.jpg"].lower()
    assert skipped["text.jpg"] == "not a recognised image format"
    assert "not an image suffix" in skipped["photo.txt"]
    assert "decompression-bomb" in skipped["bomb.png"]
    assert "MAX_IMAGE_PIXELS" in skipped["sliver.png"]
    notes = {im["path"]: im.get("notes", []) for im in m["images"]}
    assert notes["ok.png"] == []
    assert "suffix .jpg but PNG content" in notes["png_content.jpg"]
    assert "3 frames: first used" in notes["anim.gif"]
    assert any("stretched to 8 bits" in n for n in notes["sixteen.png"])
    assert "CMYK converted to RGB" in notes["cmyk.jpg"]
    assert any("alpha composited" in n for n in notes["palette_transparent.png"])
    assert any("alpha composited" in n for n in notes["la.png"])
    assert "EXIF orientation 6 applied" in notes["rotated.jpg"]
    assert "2x3 smaller than the input: upsampled" in notes["tiny.png"]
    store = ActivationStore(tmp_path / "activations")
    assert len(store) == 9 and np.isfinite(store.read("activations")).all()


def test_exif_orientation_is_applied(tmp_path):
    _exif_rotated(tmp_path / "r.jpg")
    im, notes = load_image(tmp_path / "r.jpg")
    a = np.asarray(im)
    assert im.size == (20, 40) and notes == ["EXIF orientation 6 applied"]
    assert a[:20].mean() > 200 and a[20:].mean() < 50  # the white left half is now on top


def test_first_frame_of_a_multiframe_file(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.tiff", save_all=True, append_images=frames[1:])
    im, notes = load_image(tmp_path / "a.tiff")
    assert np.asarray(im)[0, 0].tolist() == [255, 0, 0] and notes == ["2 frames: first used"]


def test_decompression_bomb_limit_is_pils(tmp_path, monkeypatch):
    write_image(tmp_path / "x.png", size=(40, 30))
    load_image(tmp_path / "x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1200 pixels: past the limit
    with pytest.raises(ImageLoadError, match="decompression-bomb") as e:
        load_image(tmp_path / "x.png")
    assert "x.png" in str(e.value) and "decompression-bomb" in e.value.reason
