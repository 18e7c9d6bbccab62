"""The input image as the model saw it: timm's eval transform without the normalisation.

timm's eval transform (``transforms_factory.transforms_imagenet_eval``, crop_mode "center"): resize
the shorter side to ``floor(size / crop_pct)`` with the configured interpolation, then centre-crop
``size``. Overlays are drawn on this view so a concept map lines up with the pixels that made it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

__all__ = ["load_model_view", "model_view", "to_gray"]

_INTERP = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


def _size(preprocessing: Mapping[str, Any]) -> tuple[int, int]:
    size = preprocessing.get("input_size")
    if size is None:
        raise ValueError(
            f"preprocessing should have 'input_size' ([3, H, W]), got keys {sorted(preprocessing)}"
        )
    size = list(size)[-2:]
    return int(size[0]), int(size[1])


def model_view(image: Image.Image, preprocessing: Mapping[str, Any]) -> np.ndarray:
    """Resize (shorter side to floor(size / crop_pct)) + centre crop, as timm's eval transform.

    Args:
        image: a PIL image (any mode; converted to RGB).
        preprocessing: timm data config with ``input_size`` ([3, H, W]), ``crop_pct`` (default
            0.875), ``interpolation`` (default "bilinear") and ``crop_mode`` ("center" default, or
            "squash": both sides resized to floor(size / crop_pct)).

    Returns:
        uint8 (H, W, 3).
    """
    h, w = _size(preprocessing)
    crop_pct = float(preprocessing.get("crop_pct") or 0.875)  # timm's DEFAULT_CROP_PCT
    crop_mode = str(preprocessing.get("crop_mode") or "center")
    if crop_mode not in ("center", "squash"):
        raise ValueError(
            f"preprocessing crop_mode={crop_mode!r}; valid choices: ['center', 'squash']"
        )
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"preprocessing crop_pct={crop_pct} should be in (0, 1]")
    interp = str(preprocessing.get("interpolation") or "bilinear")
    if interp not in _INTERP:
        raise ValueError(
            f"preprocessing interpolation={interp!r}; valid choices: {sorted(_INTERP)}"
        )
    image = image.convert("RGB")
    if h == w and crop_mode == "center":
        scale = math.floor(h / crop_pct)
        iw, ih = image.size
        if iw <= ih:
            new = (scale, max(1, int(scale * ih / iw)))
        else:
            new = (max(1, int(scale * iw / ih)), scale)
    else:
        new = (math.floor(w / crop_pct), math.floor(h / crop_pct))
    image = image.resize(new, _INTERP[interp])
    iw, ih = image.size
    left = round((iw - w) / 2.0)
    top = round((ih - h) / 2.0)
    return np.asarray(image.crop((left, top, left + w, top + h)), dtype=np.uint8)


def load_model_view(path: str | Path, preprocessing: Mapping[str, Any]) -> np.ndarray:
    """``model_view`` of the image file at ``path`` (uint8 (H, W, 3)), EXIF orientation applied
    as extraction applies it, so the figure shows what the model saw."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} not found")
    with Image.open(path) as im:
        return model_view(ImageOps.exif_transpose(im), preprocessing)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of a uint8 (H, W, 3) image, float32 in [0, 1] (H, W)."""
    rgb = np.asarray(rgb, np.float32) / 255.0
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)
