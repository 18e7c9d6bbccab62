"""Preprocessing and labels shared by extraction and crops: timm's eval transform, folder labels."""

from __future__ import annotations

from typing import Any

__all__ = ["make_transform", "label_indices"]


def make_transform(data_config: dict[str, Any]):
    """timm's eval transform for this data config (resize, centre crop, normalise)."""
    from timm.data import create_transform

    cfg = {k: data_config[k] for k in ("input_size", "interpolation", "mean", "std", "crop_pct",
                                       "crop_mode") if k in data_config}
    return create_transform(**cfg, is_training=False)


def label_indices(
    label_names: list[str | None], num_classes: int
) -> tuple[list[int], list[str] | None]:
    """Map folder names to class indices.

    ImageNet synset folders (``n01440764``) map to ImageNet indices for 1000-class models; other
    folders are numbered in sorted order (torchvision ImageFolder convention). Flat folders are
    unlabelled (-1).

    Returns:
        (indices, class_names) with ``class_names`` None for unlabelled data.
    """
    names = sorted({n for n in label_names if n is not None})
    if not names:
        return [-1] * len(label_names), None
    if num_classes == 1000 and all(n.startswith("n") and n[1:].isdigit() for n in names):
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        to_idx = {info.index_to_label_name(i): i for i in range(1000)}
        unknown = [n for n in names if n not in to_idx]
        if unknown:
            raise ValueError(f"folders {unknown[:5]} are not ImageNet-1k synsets")
        return [to_idx[n] if n is not None else -1 for n in label_names], None
    to_idx = {n: i for i, n in enumerate(names)}
    return [to_idx[n] if n is not None else -1 for n in label_names], names
