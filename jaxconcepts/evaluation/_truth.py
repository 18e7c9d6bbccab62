"""Planted ground truth beside a store: which truth row each store image is, and the part maps the
scores read (shared by the recovery stage, the C2MF suite's planted scores, the image grounds and
the OOD stage's object split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["match_rows", "scoring_masks"]


def _rel(path: str) -> str:
    """``<class>/<file>``: how store paths and truth files are matched."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}"


def match_rows(store_images: list[dict], truth_files: list[str]) -> np.ndarray:
    """For each store image (row order), its row in the truth arrays.

    Raises:
      ValueError: a store image has no ground truth (e.g. the store was not extracted from the
        planted test split).
    """
    pos = {_rel(f): i for i, f in enumerate(truth_files)}
    rows, missing = [], []
    for im in store_images:
        r = pos.get(_rel(im["path"]))
        (missing.append(im["path"]) if r is None else rows.append(r))
    if missing:
        raise ValueError(
            f"{len(missing)} store images have no planted ground truth (first: {missing[:3]}); "
            "was the store extracted from data/<ds>/images of the planted prepare step?"
        )
    return np.asarray(rows, np.int64)


def scoring_masks(part_map: np.ndarray, mask_size: int | None) -> np.ndarray:
    """The part maps (n, H, W) the scores use: subsampled (nearest) to ``mask_size`` per side when
    that is smaller than H = W, so that 256-px masks cost what 64-px masks do; as they are for
    ``None``.

    Raises:
      ValueError: the maps are not square, or ``mask_size`` does not divide their side.
    """
    n, h, w = part_map.shape
    if mask_size is None or mask_size >= h:
        return part_map
    if h != w or h % mask_size:
        raise ValueError(f"recovery.mask_size={mask_size} should divide the truth's square "
                         f"{h}x{w} masks (or be null)")
    f = h // mask_size
    return part_map[:, f // 2::f, f // 2::f]
