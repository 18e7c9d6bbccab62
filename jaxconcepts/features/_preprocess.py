"""Preprocessing for extraction and crops: timm's eval transform, split so loaders ship pixels.

Extraction's resize + centre crop run in the loaders (``split_transform``), with one of two
implementations (``extract.resize``):

- ``pil``: timm's own PIL ops (torchvision ``Resize`` + ``CenterCrop``), bit for bit.
- ``torch``: the same geometry (shorter side to ``floor(image_size / crop_pct)``, torchvision's
  output-size and crop-offset rules) computed by torch's antialiased ``interpolate`` on uint8
  pixels (its AVX2 path, Pillow's separable filters in fixed point). About 4x less CPU than
  PIL's resize on the packaged photos (one thread; ``reports/benchmarks/extraction.json``,
  ``preprocessing_torch_vs_pil``); pixels differ from PIL's by at most 1 grey level (rounding of
  the fixed-point filters; mean |Δ| 0.003 on the packaged photos; see
  ``benchmarks/extraction.py``'s ``preprocessing`` section). Used for
  timm's usual eval transform (``Resize(int, bilinear|bicubic)`` + square ``CenterCrop``) when the
  resized image covers the crop; any other transform, or a crop that would pad, runs PIL's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["make_transform", "split_transform", "normalize_batch", "normalize_uint8",
           "model_input", "ResizeCrop", "RESIZE_BACKENDS"]

RESIZE_BACKENDS = ("pil", "torch")


def make_transform(data_config: dict[str, Any]):
    """timm's eval transform for this data config (resize, centre crop, normalise)."""
    from timm.data import create_transform

    cfg = {k: data_config[k] for k in ("input_size", "interpolation", "mean", "std", "crop_pct",
                                       "crop_mode") if k in data_config}
    return create_transform(**cfg, is_training=False)


def split_transform(data_config: dict[str, Any], *, resize: str = "pil"):
    """timm's eval transform split in two: ``(pixel_ops, mean, std)``.

    ``pixel_ops`` (resize + centre crop: timm's PIL ops, or with ``resize="torch"`` a
    :class:`ResizeCrop` where the transform allows) runs in the loaders, which then ship uint8
    pixels; :func:`normalize_batch` / :func:`normalize_uint8` do ToTensor + Normalize with the
    same float32 operations in the same order (identical values). Transforms of another shape
    come back whole, with ``mean = std = None``.
    """
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize
    from torchvision.transforms import ToTensor

    if resize not in RESIZE_BACKENDS:
        raise ValueError(f"resize={resize!r}; expected one of {list(RESIZE_BACKENDS)}")
    t = make_transform(data_config)
    ops = list(t.transforms)
    if not (len(ops) >= 2 and isinstance(ops[-2], ToTensor) and isinstance(ops[-1], Normalize)):
        return t, None, None
    mean, std = tuple(map(float, ops[-1].mean)), tuple(map(float, ops[-1].std))
    pil = Compose(ops[:-2])
    if resize == "torch" and len(ops) == 4:
        r, c = ops[0], ops[1]
        size = r.size if isinstance(r.size, int) else (
            r.size[0] if isinstance(r.size, (list, tuple)) and len(r.size) == 1 else None)
        crop = tuple(c.size) if isinstance(c, CenterCrop) else None
        modes = {InterpolationMode.BICUBIC: "bicubic", InterpolationMode.BILINEAR: "bilinear"}
        if (isinstance(r, Resize) and size is not None and r.max_size is None
                and r.antialias is not False and r.interpolation in modes
                and crop is not None and len(crop) == 2):
            return ResizeCrop(size, crop, modes[r.interpolation], pil), mean, std
    return pil, mean, std


class ResizeCrop:
    """torchvision's ``Resize(size)`` + ``CenterCrop(crop)`` on an RGB PIL image, computed by
    torch's antialiased uint8 ``interpolate``: returns a uint8 (crop_h, crop_w, 3) tensor.
    Images whose resize would not cover the crop go through ``fallback`` (the PIL ops)."""

    def __init__(self, size: int, crop: tuple[int, int], mode: str, fallback):
        self.size, self.crop, self.mode, self.fallback = int(size), crop, mode, fallback

    def __repr__(self) -> str:
        return f"ResizeCrop(size={self.size}, crop={self.crop}, mode={self.mode!r}, torch)"

    def __call__(self, im):
        import torch

        w, h = im.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(self.size * long / short)  # torchvision's output-size rule
        ow, oh = (self.size, new_long) if w <= h else (new_long, self.size)
        ch, cw = self.crop
        if im.mode != "RGB" or oh < ch or ow < cw:
            return torch.from_numpy(np.array(self.fallback(im), np.uint8, copy=True))
        x = torch.from_numpy(np.array(im, np.uint8, copy=True)).permute(2, 0, 1)[None]
        if (oh, ow) != (h, w):  # (1, 3, H, W) channels_last: torch's AVX2 uint8 path
            x = torch.nn.functional.interpolate(x, size=(oh, ow), mode=self.mode,
                                                antialias=True, align_corners=False)
        top, left = int(round((oh - ch) / 2.0)), int(round((ow - cw) / 2.0))
        return x[0, :, top:top + ch, left:left + cw].permute(1, 2, 0)


def normalize_uint8(x: np.ndarray, mean, std) -> np.ndarray:
    """uint8 (..., 3) pixels → float32 normalised, as ``ToTensor`` then ``Normalize`` compute
    them (float32, divide by 255, subtract mean, divide by std: the same correctly rounded
    operations, so the same bits). NumPy, single-threaded, for loaders."""
    m, s = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    a = x.astype(np.float32)
    np.divide(a, np.float32(255), out=a)
    np.subtract(a, m, out=a)
    np.divide(a, s, out=a)
    return a


def normalize_batch(x, mean, std):
    """uint8 (B, 3, H, W) → float32 normalised, as ``ToTensor`` then ``Normalize`` compute it.
    Float input (already normalised by the loaders) comes back as it is."""
    import torch

    if mean is None or x.dtype != torch.uint8:
        return x
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return x.to(torch.float32).div_(255).sub_(m).div_(s)  # in place: one 4-byte copy, not two


def model_input(data_config: dict[str, Any], *, resize: str = "pil",
                jpeg_draft: float | None = None):
    """``path -> float32 (3, H, W)``: the tensor extraction feeds the model for that file (the
    same decode, ``resize`` backend and normalisation, bit for bit), for code that needs an
    image again after extraction (CRAFT's crops: pass the store manifest's ``resize`` and
    ``jpeg_draft``)."""
    import math

    import torch

    from jaxconcepts.features._images import load_image

    pixel_ops, mean, std = split_transform(data_config, resize=resize)
    short = math.floor(data_config["input_size"][-1] / float(data_config.get("crop_pct") or 1.0))

    def run(path):
        x = pixel_ops(load_image(path, resize_short=short, jpeg_draft=jpeg_draft)[0])
        if mean is None:  # a transform of another shape: timm's whole transform ran
            return x
        a = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.uint8)
        return torch.from_numpy(normalize_uint8(a, mean, std)).permute(2, 0, 1).contiguous()

    return run
