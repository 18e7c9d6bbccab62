"""CRAFT's inputs: random crops of each image, resized to the input size, through g, averaged.

CRAFT (Fel et al. 2023) learns its concepts from *image patches*, not from the full-image feature
map: each crop is resized back to the model's input size, passed through g, and its activation map
is averaged over space into one row. This module does that once per image of an activation store,
with torch (like the rest of ``features/``), and writes the rows as a **crop store**: the layout
of an activation store whose "spatial positions" are the crops — shards of ``activations
(B, C, n_crops, 1)`` with the images' ``index``, ``pred``, ``target``, ``label`` and the crop
``boxes (B, n_crops, 4)``, and a ``manifest.json`` (``kind: crops``). So the crops stream through
:class:`~jaxconcepts.store.RowsView` like any store (CRAFT's NMF, the OOD study): memory is one
shard, whatever the number of images (format and reader: :mod:`jaxconcepts.store._crop_store`).

Crop positions are a deterministic function of ``(seed, image index)`` only, so an image's crops
do not depend on the batch it runs in. Images are re-read from the paths in the store's manifest
and checked against its sha256: an image edited after extraction is an error, not a silent
mismatch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from jaxconcepts._io import sha256_file
from jaxconcepts.features._extract import NonFiniteActivationError
from jaxconcepts.features._preprocess import model_input
from jaxconcepts.features._models import LoadedModel
from jaxconcepts.store import CROP_FIELDS, ActivationStore, CropStoreWriter

__all__ = ["crop_boxes", "crop_and_resize", "extract_crops"]

def crop_boxes(index: int, *, seed: int, n_crops: int, size: tuple[int, int],
               crop_fraction: float) -> np.ndarray:
    """``(n_crops, 4)`` int boxes ``(top, left, height, width)`` of square crops for one image.

    The side is ``round(crop_fraction · min(H, W))``; positions are uniform over the valid range,
    drawn from ``numpy.random.default_rng([seed, index])``.
    """
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction={crop_fraction} should be in (0, 1]")
    if n_crops < 1:
        raise ValueError(f"n_crops={n_crops} should be >= 1")
    H, W = size
    s = max(1, int(round(crop_fraction * min(H, W))))
    rng = np.random.default_rng([int(seed), int(index)])
    top = rng.integers(0, H - s + 1, n_crops)
    left = rng.integers(0, W - s + 1, n_crops)
    return np.stack([top, left, np.full(n_crops, s), np.full(n_crops, s)], 1).astype(np.int64)


def crop_and_resize(x: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
    """Crops of one preprocessed image ``x`` (ch, H, W), each resized (bilinear) to (H, W)."""
    H, W = x.shape[-2:]
    out = [torch.nn.functional.interpolate(x[None, :, t:t + h, l:l + w], size=(H, W),
                                           mode="bilinear", align_corners=False)
           for t, l, h, w in boxes]
    return torch.cat(out, 0)


def extract_crops(
    lm: LoadedModel,
    store: ActivationStore,
    out: str | Path,
    *,
    n_crops: int = 8,
    crop_fraction: float = 0.5,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
) -> dict:
    """Spatially averaged g(crop) for ``n_crops`` random crops of every image of ``store``.

    Args:
        lm: the model the store was extracted with (same g).
        store: the activation store; its manifest lists the images (path, sha256, index).
        out: the crop store's folder (module docstring; written shard by shard, replacing ``out``
            only once complete); boxes are ``(top, left, height, width)`` in input pixels.
        n_crops, crop_fraction, seed: see :func:`crop_boxes`.
        batch_size: crops per forward pass.

    Returns:
        Metadata written next to the arrays.

    Raises:
        FileNotFoundError / ValueError: an image is missing or changed since extraction.
        NonFiniteActivationError: NaN/Inf in a crop's activations (names the image).
    """
    images = store.manifest["images"]  # paths relative to store.image_root
    if not images:
        raise ValueError(f"store {str(store.path)!r} holds no images")
    # the image exactly as extraction fed it to the model (its resize backend and JPEG decode)
    transform = model_input(lm.data_config, resize=store.manifest.get("resize", "pil"),
                            jpeg_draft=store.manifest.get("jpeg_draft"))
    lm.model.to(memory_format=torch.channels_last).eval()  # in place: lm.trunk shares its modules
    C = store.shape[0]
    per_image = {k: store.read(k, dtype=np.int32) for k in CROP_FIELDS}  # small: one int each
    if not np.array_equal(per_image["index"], [int(r["index"]) for r in images]):
        raise ValueError(f"store {str(store.path)!r}: the manifest's image list and its shards "
                         "disagree on the image order; re-run extract")
    pending: list[tuple[int, torch.Tensor, np.ndarray]] = []  # (image position, crops, boxes)
    writer = CropStoreWriter(out, n_crops=n_crops, channels=C,
                             shard_size=int(store.manifest["shards"][0]["rows"]))

    def flush():
        if not pending:
            return
        x = torch.cat([c for _, c, _ in pending], 0).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            f = lm.trunk(x)  # g at the store's layer
        a = f.float().mean(dim=(2, 3)).numpy().reshape(len(pending), n_crops, -1)
        for (pos, _, _), r in zip(pending, a):
            if not np.isfinite(r).all():
                raise NonFiniteActivationError(
                    f"NaN or Inf in the crop activations of {images[pos]['path']}")
            if r.shape[-1] != C:
                raise ValueError(f"g gives {r.shape[-1]} channels but the store has {C}: "
                                 "crops must use the model the store was extracted with")
        pos = np.array([q for q, _, _ in pending])
        writer.add(a, np.stack([b for _, _, b in pending]),
                   **{k: v[pos] for k, v in per_image.items()})
        pending.clear()

    per_batch = max(1, batch_size // n_crops)
    bar = tqdm(images, desc="crops", unit="img", disable=not progress)
    with writer:
        for pos, rec in enumerate(bar):
            path = store.image_path(rec["path"])
            if not path.is_file():
                raise FileNotFoundError(f"image {str(path)!r} of the store is missing; re-run "
                                        "extract")
            if rec.get("sha256") and sha256_file(path) != rec["sha256"]:
                raise ValueError(f"image {str(path)!r} changed since extraction (sha256 "
                                 "differs); re-run extract")
            x = transform(path)
            boxes = crop_boxes(int(rec["index"]), seed=seed, n_crops=n_crops,
                               size=tuple(x.shape[-2:]), crop_fraction=crop_fraction)
            pending.append((pos, crop_and_resize(x, boxes), boxes))
            if len(pending) >= per_batch:
                flush()
        flush()
        meta = {"n_images": len(images), "n_crops": int(n_crops),
                "crop_fraction": float(crop_fraction), "seed": int(seed), "channels": int(C),
                "model": store.manifest.get("model"),
                "store_weights_sha256": (store.manifest.get("weights") or {}).get("sha256"),
                "layer": store.manifest.get("layer")}
        writer.finish(meta)
    return meta
