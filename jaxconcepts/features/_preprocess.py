"""Preprocessing shared by extraction and crops: timm's eval transform, split so workers ship uint8."""

from __future__ import annotations

from typing import Any

__all__ = ["make_transform", "split_transform", "normalize_batch"]


def make_transform(data_config: dict[str, Any]):
    """timm's eval transform for this data config (resize, centre crop, normalise)."""
    from timm.data import create_transform

    cfg = {k: data_config[k] for k in ("input_size", "interpolation", "mean", "std", "crop_pct",
                                       "crop_mode") if k in data_config}
    return create_transform(**cfg, is_training=False)


def split_transform(data_config: dict[str, Any]):
    """timm's eval transform split in two: ``(pil_ops, mean, std)``.

    ``pil_ops`` (resize + centre crop on the PIL image) runs in the loader workers, which then
    ship uint8 pixels; :func:`normalize_batch` does ToTensor + Normalize on the whole batch on
    the model's device, with the same float32 operations in the same order (identical values).
    Transforms of another shape come back whole, with ``mean = std = None``.
    """
    from torchvision.transforms import Compose, Normalize, ToTensor

    t = make_transform(data_config)
    ops = list(t.transforms)
    if len(ops) >= 2 and isinstance(ops[-2], ToTensor) and isinstance(ops[-1], Normalize):
        return Compose(ops[:-2]), tuple(map(float, ops[-1].mean)), tuple(map(float, ops[-1].std))
    return t, None, None


def normalize_batch(x, mean, std):
    """uint8 (B, 3, H, W) → float32 normalised, as ``ToTensor`` then ``Normalize`` compute it."""
    import torch

    if mean is None:
        return x
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return x.to(torch.float32).div_(255).sub_(m).div_(s)  # in place: one 4-byte copy, not two
