"""Image folders: flat or ImageFolder-style (``root/<class>/<file>``), read robustly as RGB.

Corrupt and non-image files are skipped with a warning and a recorded reason, never a crash.
Grayscale, RGBA, LA, palette, CMYK and 16-bit images are converted to 8-bit RGB (alpha is
composited on white).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["ImageRecord", "list_images", "load_rgb", "ImageLoadError", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class ImageLoadError(ValueError):
    """An image file could not be read; the message says why."""


@dataclass(frozen=True)
class ImageRecord:
    path: Path
    label_name: str | None  # folder name for ImageFolder layouts, None for flat folders


def list_images(root: str | Path) -> tuple[list[ImageRecord], list[dict]]:
    """List the images under ``root`` in a deterministic (sorted) order.

    A folder whose files are all inside sub-folders is ImageFolder-style: each sub-folder is a
    class. Files in a flat folder get ``label_name=None``. Hidden files are ignored.

    Returns:
        (records, skipped): ``skipped`` lists ``{"path", "reason"}`` for files whose suffix is not
        an image suffix (their content is checked later, at load time).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: ``root`` holds no image files at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    nested = bool(subdirs) and all(p.parent != root for p in files)
    records, skipped = [], []
    for p in files:
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append({"path": str(p), "reason": f"not an image suffix ({p.suffix or 'none'})"})
            continue
        label = p.relative_to(root).parts[0] if nested else None
        records.append(ImageRecord(p, label))
    if not records:
        raise ValueError(
            f"image folder {str(root)!r} contains no images (looked for {sorted(IMAGE_SUFFIXES)}); "
            "put images in it flat or as <class>/<image> sub-folders"
        )
    return records, skipped


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image and return it as 8-bit RGB.

    Raises:
        ImageLoadError: the file is not a readable image (corrupt, truncated, empty).
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return _to_rgb(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageLoadError(f"cannot read image {str(path)!r}: {e}") from e


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        im = Image.fromarray(((a - lo) * scale).round().astype(np.uint8), mode="L")
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im

