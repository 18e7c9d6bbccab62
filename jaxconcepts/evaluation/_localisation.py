"""Localisation by concept maps and class coverage (Coverage@τ), on arrays.

For a set of concepts with code maps on the activation grid (``codes`` ``(B, p, G)``: B images,
p = h·w positions, G concepts) and ground-truth masks of the *classes to recover* (planted: the
parts; objects: the objects) as their coverage of each grid cell (``masks`` ``(B, P, p)`` in
[0, 1]):

- **the mask** of class q is the set of (image, cell) pairs that q covers by at least
  :data:`MASK_COVERAGE` (0.5) of the cell: the masks are brought to the grid, the maps are not
  upsampled;
- **a concept's map** (:func:`binarise_maps`) is on where its code exceeds :data:`MAP_FRACTION`
  (0.5) of its largest code over the images where it is defined (every test image, or for a
  per-class dictionary its class's images; off elsewhere); a concept that is never positive has
  an empty map. Codes are read as they are (an SAE's, NMF's and C2MF's are ≥ 0; a signed PCA
  code counts by its positive part);
- **IoU** (:func:`concept_ious`) of concept g and class q: |map_g ∩ mask_q| / |map_g ∪ mask_q|
  over every (image, cell) pair of the test images (one IoU over the data set, as in Network
  Dissection, Bau et al. 2017, not a mean of per-image IoUs);
- **Coverage@τ** (:func:`coverage`): the share of the classes present in the test images (a
  non-empty mask) whose best IoU over the concepts is ≥ τ, for τ in :data:`TAUS`, with each
  class's best IoU and the concept that reaches it.

This follows saev's Coverage@τ (Stevens et al., arXiv 2511.17735: "the fraction of classes whose
best-aligned feature achieves AP ≥ τ") where it applies. Differences: (1) the alignment score is
the IoU of a binarised map (Coverage@τ as defined here) where saev uses the average precision of the
latent's patch scores against the patch labels (threshold-free); (2) the best concept is chosen
on the scored (test) images, where saev chooses it on training patches and scores it on
validation patches, so ours is optimistic by the choice, more so with more concepts; (3) a class
absent from the test images is left out (saev counts it as AP 0); (4) each class's mask is its
own (a cell may belong to several classes or none), where saev gives each patch one label; (5)
saev's code compares ``AP > τ``, its paper ``≥``; we use ``≥``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAP_FRACTION", "MASK_COVERAGE", "TAUS", "binarise_maps", "concept_ious", "coverage",
           "per_class_maps"]

#: a concept's map is on where its code exceeds this fraction of its largest code
MAP_FRACTION = 0.5
#: a grid cell belongs to a class's mask when the class covers at least this share of it
MASK_COVERAGE = 0.5
#: the thresholds of Coverage@τ (saev reports 0.3; 0.5 is the usual IoU bar)
TAUS = (0.3, 0.5)


def _check(codes, defined):
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 3:
        raise ValueError(f"codes should be (B, p, G), got shape {codes.shape}")
    if defined is None:
        return codes, np.ones((codes.shape[0], codes.shape[2]), bool)
    defined = np.asarray(defined, bool)
    if defined.shape != (codes.shape[0], codes.shape[2]):
        raise ValueError(f"defined should be (B, G) = {(codes.shape[0], codes.shape[2])}, got "
                         f"{defined.shape}")
    return codes, defined


def binarise_maps(codes, defined=None, *, fraction: float = MAP_FRACTION) -> np.ndarray:
    """``(B, p, G)`` bool: each concept's map (module docstring).

    Args:
        codes: ``(B, p, G)`` code maps; defined: ``(B, G)`` bool, the images where a concept is
            defined (None: all).
        fraction: the map is on where the code is > ``fraction`` × the concept's largest code
            over the images where it is defined, and that largest code is > 0.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction={fraction} should be in [0, 1)")
    codes, defined = _check(codes, defined)
    where = defined[:, None, :]
    top = np.where(where, codes, -np.inf).max(axis=(0, 1))  # (G,)
    return where & (codes > fraction * top) & (top > 0)


def concept_ious(codes, masks, defined=None, *, fraction: float = MAP_FRACTION,
                 mask_coverage: float = MASK_COVERAGE) -> np.ndarray:
    """``(G, P)`` IoU of every concept's map with every class's mask over all images and cells;
    NaN for a class whose mask is empty (absent from the images).

    Args:
        codes: ``(B, p, G)`` code maps; masks: ``(B, P, p)`` each class's coverage of each cell
            (in [0, 1]); defined: as :func:`binarise_maps`.
    """
    masks = np.asarray(masks, np.float64)
    codes, defined = _check(codes, defined)
    if masks.ndim != 3 or masks.shape[0] != codes.shape[0] or masks.shape[2] != codes.shape[1]:
        raise ValueError(f"masks should be (B, P, p) with B = {codes.shape[0]} and p = "
                         f"{codes.shape[1]} as codes, got {masks.shape}")
    if not 0.0 < mask_coverage <= 1.0:
        raise ValueError(f"mask_coverage={mask_coverage} should be in (0, 1]")
    on = binarise_maps(codes, defined, fraction=fraction).reshape(-1, codes.shape[2])
    m = (masks >= mask_coverage).transpose(0, 2, 1).reshape(-1, masks.shape[1])
    inter = on.T.astype(np.float64) @ m.astype(np.float64)  # (G, P)
    union = on.sum(0)[:, None] + m.sum(0)[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return np.where(m.any(0)[None, :], iou, np.nan)


def per_class_maps(U, y_img, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class dictionaries (CRAFT, PCA): concept j of class y is its own concept ``y·k + j``,
    defined on class y's images only. ``U`` ``(B, p, k)`` each image's codes with its class's
    dictionary, ``y_img`` ``(B,)`` its class; returns codes ``(B, p, Y·k)`` (zero outside the
    image's class) and ``defined`` ``(B, Y·k)``."""
    U, y = np.asarray(U), np.asarray(y_img, np.int64)
    B, p, k = U.shape
    out = np.zeros((B, p, n_classes * k), U.dtype)
    cols = y[:, None] * k + np.arange(k)[None]  # (B, k)
    out[np.arange(B)[:, None, None], np.arange(p)[None, :, None], cols[:, None, :]] = U
    defined = (np.arange(n_classes * k)[None, :] // k) == y[:, None]
    return out, defined


def coverage(iou, *, taus=TAUS, class_names=None, concept_labels=None) -> dict:
    """Coverage@τ from the ``(G, P)`` IoUs of :func:`concept_ious` (module docstring).

    Returns:
        ``{"coverage": {"0.3": share, ...}, "n_classes": classes present, "best_iou":
        {class: IoU}, "best_concept": {class: concept label}}`` (classes absent from the images
        are left out; shares are None when none is present).
    """
    iou = np.asarray(iou, np.float64)
    if iou.ndim != 2 or iou.shape[0] < 1:
        raise ValueError(f"iou should be (G, P) with G >= 1, got shape {iou.shape}")
    P = iou.shape[1]
    names = [str(q) for q in range(P)] if class_names is None else [str(n) for n in class_names]
    labels = ([str(g) for g in range(iou.shape[0])] if concept_labels is None
              else [str(x) for x in concept_labels])
    if len(names) != P or len(labels) != iou.shape[0]:
        raise ValueError(f"class_names ({len(names)}) and concept_labels ({len(labels)}) should "
                         f"match iou's (G, P) = {iou.shape}")
    present = ~np.isnan(iou).all(0)
    best = np.where(present, np.nan_to_num(iou, nan=-1.0).max(0), np.nan)
    arg = np.nan_to_num(iou, nan=-1.0).argmax(0)
    n = int(present.sum())
    return {"coverage": {f"{t:g}": (float(np.mean(best[present] >= t)) if n else None)
                         for t in taus},
            "n_classes": n,
            "best_iou": {names[q]: float(best[q]) for q in np.flatnonzero(present)},
            "best_concept": {names[q]: labels[arg[q]] for q in np.flatnonzero(present)}}
