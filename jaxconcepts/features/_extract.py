"""Extraction: images → g(x) activations (torch, once) → numpy → the activation store.

Runs the model in batches on the CPU (channels-last, no grad) with a progress bar, checks each
image's activations for NaN/Inf, computes logits with h, and writes shards + manifest.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from jaxconcepts._io import sha256_file
from jaxconcepts.features._images import ImageLoadError, ImageRecord, list_images, load_rgb
from jaxconcepts.features._models import LoadedModel, tokens_to_grid
from jaxconcepts.features._store import HeadParams, StoreWriter

__all__ = ["extract", "NonFiniteActivationError", "label_indices", "make_transform"]


class NonFiniteActivationError(ValueError):
    """The model produced NaN or Inf activations for an image."""


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


def _load_batch(records, transform, skipped):
    xs, kept = [], []
    for r in records:
        try:
            im = load_rgb(r.path)
        except ImageLoadError as e:
            warnings.warn(f"skipping {r.path}: {e}", stacklevel=2)
            skipped.append({"path": str(r.path), "reason": str(e)})
            continue
        xs.append(transform(im))
        kept.append(r)
    return (torch.stack(xs) if xs else None), kept


def extract(
    lm: LoadedModel,
    image_root: str | Path,
    out: str | Path,
    *,
    batch_size: int = 16,
    shard_size: int = 256,
    use_label_as_target: bool = False,
    progress: bool = True,
) -> dict:
    """Extract g(x) for every image under ``image_root`` and write the store at ``out``.

    Args:
        lm: a :class:`LoadedModel` (see ``load_model``).
        image_root: a flat or ImageFolder-style folder of images.
        out: the store directory (replaced atomically on success).
        batch_size: images per forward pass.
        shard_size: rows per safetensors shard.
        use_label_as_target: target = label (when the image has one) instead of the prediction.

    Returns:
        The manifest written.

    Raises:
        ValueError: empty folder, or every image failed to load.
        NonFiniteActivationError: NaN/Inf activations (names the image).
    """
    records, skipped = list_images(image_root)
    for s in skipped:
        warnings.warn(f"skipping {s['path']}: {s['reason']}", stacklevel=2)
    num_classes = lm.head_weight.shape[0] if lm.head_weight is not None else lm.model.num_classes
    labels, class_names = label_indices([r.label_name for r in records], num_classes)
    label_of = {r.path: lab for r, lab in zip(records, labels)}
    transform = make_transform(lm.data_config)
    model = lm.model.to(memory_format=torch.channels_last)
    images: list[dict] = []
    shape = None
    with StoreWriter(out, shard_size=shard_size) as writer:
        bar = tqdm(total=len(records), desc="extract", unit="img", disable=not progress)
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            x, kept = _load_batch(chunk, transform, skipped)
            bar.update(len(chunk))
            if x is None:
                continue
            with torch.inference_mode():
                raw = model.forward_features(x.contiguous(memory_format=torch.channels_last))
                logits = model.forward_head(raw)  # h on g's raw output: exact for any head
                f = tokens_to_grid(model, raw) if lm.tokens else raw
            a = f.float().contiguous().numpy()
            finite = np.isfinite(a.reshape(len(a), -1)).all(1)
            if not finite.all():
                bad = [str(kept[i].path) for i in np.flatnonzero(~finite)]
                raise NonFiniteActivationError(f"NaN or Inf in the activations of {bad}")
            z = logits.float().numpy()
            if not np.isfinite(z).all():
                bad = [str(kept[i].path) for i in np.flatnonzero(~np.isfinite(z).all(1))]
                raise NonFiniteActivationError(f"NaN or Inf in the logits of {bad}")
            p = torch.softmax(logits.float(), -1).numpy()
            pred = z.argmax(1)
            lab = np.array([label_of[r.path] for r in kept], np.int32)
            target = np.where((lab >= 0) & use_label_as_target, lab, pred) if num_classes else pred
            idx = np.arange(len(images), len(images) + len(kept), dtype=np.int32)
            for i, r in enumerate(kept):
                images.append({
                    "index": int(idx[i]), "path": str(r.path), "sha256": sha256_file(r.path),
                    "label": int(lab[i]), "label_name": r.label_name,
                })
            shape = list(a.shape[1:])
            writer.add(activations=a, logits=z, target=target, label=lab, pred=pred,
                       prob=p[np.arange(len(p)), pred], index=idx)
        bar.close()
        if not images:
            raise ValueError(f"none of the {len(records)} files under {str(image_root)!r} could be read")
        cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in lm.data_config.items()}
        manifest = {
            "model": lm.name,
            "weights": lm.weights,
            "preprocessing": cfg,
            "image_size": int(lm.data_config["input_size"][-1]),
            "layer": "forward_features" + (" (tokens → grid, prefix tokens dropped)" if lm.tokens else ""),
            "shape": shape,
            "images": images,
            "skipped": skipped,
            "head": {"kind": lm.head_kind, "num_classes": int(num_classes)},
            "class_names": class_names,
            "image_root": str(image_root),
            "use_label_as_target": bool(use_label_as_target),
        }
        head = HeadParams(lm.head_weight, lm.head_bias) if lm.head_kind == "gap_linear" else None
        manifest = writer.finish(manifest, head)
    return manifest
