"""Image folders: flat or ImageFolder-style (``root/<class>/<file>``), read robustly as RGB.

No file stops extraction with a traceback. Each hostile case is either converted (and the
conversion noted) or skipped with its reason:

- converted: grayscale, ``1``, palette, LA/RGBA/PA (alpha composited on white), CMYK, 16-bit and
  float images (stretched min→0, max→255), multi-frame files (first frame), EXIF orientation
  (applied, so the model sees what a photo viewer shows), content whose format differs from the
  suffix (PIL reads the content), images smaller than the model input (upsampled by the model's
  resize, like any other image; noted);
- skipped: empty, truncated, unidentifiable, unreadable files, a non-image suffix, images past
  PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), and images so elongated that
  resizing their shorter side to the input would exceed that same limit.

Paths in records are relative to the dataset root (POSIX form), so stores do not depend on where
the folder lives.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageRecord", "list_images", "load_rgb", "load_image", "ImageLoadError",
           "IMAGE_SUFFIXES", "apply_exif_orientation", "to_rgb"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class ImageLoadError(ValueError):
    """An image file could not be read; the message names it, ``reason`` says why."""

    def __init__(self, path, reason: str):
        super().__init__(f"cannot read image {str(path)!r}: {reason}")
        self.path, self.reason = str(path), reason


@dataclass(frozen=True)
class ImageRecord:
    path: Path  # absolute or cwd-relative path used to open the file
    label_name: str | None  # folder name for ImageFolder layouts, None for flat folders
    rel: str = ""  # POSIX path relative to the dataset root (what stores record)


def list_images(root: str | Path) -> tuple[list[ImageRecord], list[dict]]:
    """List the images under ``root`` in a deterministic (sorted by relative path) order.

    A folder whose files are all inside sub-folders is ImageFolder-style: each sub-folder is a
    class. Files in a flat folder get ``label_name=None``. Hidden files are ignored.

    Returns:
        (records, skipped): ``skipped`` lists ``{"path", "reason"}`` (path relative to ``root``)
        for files whose suffix is not an image suffix (their content is checked at load time).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: ``root`` holds no image files at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    files = sorted((p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.relative_to(root).as_posix())
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    nested = bool(subdirs) and all(p.parent != root for p in files)
    records, skipped = [], []
    for p in files:
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append({"path": rel, "reason": f"not an image suffix ({p.suffix or 'none'})"})
            continue
        label = p.relative_to(root).parts[0] if nested else None
        records.append(ImageRecord(p, label, rel))
    if not records:
        raise ValueError(
            f"image folder {str(root)!r} contains no images (looked for {sorted(IMAGE_SUFFIXES)}); "
            "put images in it flat or as <class>/<image> sub-folders"
        )
    return records, skipped


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image and return it as 8-bit RGB (see :func:`load_image`)."""
    return load_image(path)[0]


def load_image(
    path: str | Path, *, resize_short: int | None = None, data: bytes | None = None,
    jpeg_draft: float | None = None,
) -> tuple[Image.Image, list[str]]:
    """Open an image as 8-bit RGB, EXIF orientation applied; also return the conversions made.

    Args:
        path: the file.
        resize_short: the side the shorter image side will be resized to (the model's resize),
            to refuse images whose resized size would pass the decompression-bomb limit and to
            note upsampled small images. None skips both checks.
        data: the file's bytes when the caller has read them already (decoded from memory
            instead of reading the file again); ``path`` then only names the image.
        jpeg_draft: with ``resize_short``, let libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale
            (``Image.draft``: DCT-domain downscaling, much less CPU for large photos) as long as
            the decoded shorter side stays >= ``jpeg_draft * resize_short``; the resize then
            starts from that image (pixels differ from a full decode's: noted). None: full decode.

    Raises:
        ImageLoadError: the file is empty, truncated, not an image, past the pixel limit, or the
            resize would be; the message names the file and the reason.
    """
    path = Path(path)
    notes: list[str] = []
    try:
        if (path.stat().st_size if data is None else len(data)) == 0:
            raise ImageLoadError(path, "empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path if data is None else io.BytesIO(data)) as im:
                fmt = im.format
                suffix = path.suffix.lower().lstrip(".")
                if fmt and suffix and not _suffix_matches(suffix, fmt):
                    notes.append(f"suffix .{suffix} but {fmt} content")
                n_frames = int(getattr(im, "n_frames", 1) or 1)
                if n_frames > 1:
                    im.seek(0)
                    notes.append(f"{n_frames} frames: first used")
                if jpeg_draft and resize_short and fmt == "JPEG":
                    _draft(im, jpeg_draft * resize_short, notes)
                im.load()
                im = apply_exif_orientation(im, notes)
                im = to_rgb(im, notes)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(path, f"decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS="
                                   f"{Image.MAX_IMAGE_PIXELS}): {e}") from e
    except UnidentifiedImageError as e:
        raise ImageLoadError(path, "not a recognised image format") from e
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageLoadError(path, f"{type(e).__name__}: {e}") from e
    if resize_short is not None:
        w, h = im.size
        scale = resize_short / min(w, h)
        big = round(w * scale) * round(h * scale)
        if Image.MAX_IMAGE_PIXELS and big > Image.MAX_IMAGE_PIXELS:
            raise ImageLoadError(
                path, f"{w}x{h} resized to a shorter side of {resize_short} gives {big} pixels "
                f"> PIL.Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS}"
            )
        if min(w, h) < resize_short:
            notes.append(f"{w}x{h} smaller than the input: upsampled")
    return im, notes


def _draft(im: Image.Image, short: float, notes: list[str]) -> None:
    w, h = im.size
    k = short / min(w, h)
    if k <= 0.5:  # libjpeg scales by 1/2, 1/4, 1/8: the largest keeping >= (w, h) * k
        im.draft(im.mode, (math.ceil(w * k), math.ceil(h * k)))
        if im.size != (w, h):
            notes.append(f"JPEG {w}x{h} decoded at {im.size[0]}x{im.size[1]} (draft)")


_FORMAT_SUFFIXES = {"JPEG": {"jpg", "jpeg"}, "TIFF": {"tif", "tiff"}, "PPM": {"ppm", "pgm"}}


def _suffix_matches(suffix: str, fmt: str) -> bool:
    return suffix in _FORMAT_SUFFIXES.get(fmt, {fmt.lower()})


def apply_exif_orientation(im: Image.Image, notes: list[str]) -> Image.Image:
    """``im`` turned upright by its EXIF orientation (unchanged when absent or unreadable); what
    was done is appended to ``notes``."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # malformed EXIF: keep the pixels as stored
        notes.append("unreadable EXIF: orientation not applied")
        return im
    if orientation in (None, 1):
        return im
    try:
        out = ImageOps.exif_transpose(im)
    except Exception:
        notes.append(f"EXIF orientation {orientation} could not be applied")
        return im
    notes.append(f"EXIF orientation {orientation} applied")
    return out


def to_rgb(im: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """``im`` as 8-bit RGB (16-bit and float stretched, alpha composited on white); conversions
    worth noting are appended to ``notes``."""
    notes = [] if notes is None else notes
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        im = Image.fromarray(((a - lo) * scale).round().astype(np.uint8), mode="L")
        notes.append(f"{mode} stretched to 8 bits")
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
        notes.append(f"{mode} alpha composited on white")
    if im.mode != "RGB":
        im = im.convert("RGB")
        if mode not in ("RGB", "L", "P") and not any("alpha" in n for n in notes):
            notes.append(f"{mode} converted to RGB")
    return im
