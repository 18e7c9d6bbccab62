"""Compare a method's per-image importance AUROC with a random-grouping baseline, fairly.

The recovery stage's importance AUROC is a mean over the images where it is defined (at least one
*defining* and one *other* concept). For a random channel grouping that is a small, self-selected
subset: every random group's map is close to the image's mean map, so in ~83 % of planted test
images all groups point at a defining part and the AUROC is undefined (docs/PAPERS_FINDINGS.md).
Means over different image sets, from a single seed, are not comparable. :func:`paired_baseline`
reports the baseline over several seeds (mean ± std) and the **paired** difference on the images
where both are defined.

Concept size (channel count) used as the score, on the same (image, concept) pairs, is reported as
a reference (:func:`size_auroc`): it shows how much of the AUROC size alone explains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["paired_baseline", "size_auroc"]


def paired_baseline(method, baselines: Sequence) -> dict:
    """Method vs random baselines (one per seed), on their own images and paired.

    Args:
        method: ``(B,)`` per-image score of the method (NaN where undefined), e.g.
            ``RecoveryScores.imp_auroc``.
        baselines: one ``(B,)`` array per baseline seed, same images in the same order.

    Returns:
        JSON-ready dict: ``method`` (mean over its defined images) and ``n_method``;
        ``baseline_mean`` / ``baseline_std`` over seeds of each seed's mean, ``n_baseline``
        (mean defined images per seed); ``paired_method`` / ``paired_baseline`` (means over
        seeds of the means on the images both define), ``paired_diff`` ± ``paired_diff_std``
        (method − baseline, over seeds), ``paired_n``. None where nothing is defined.
    """
    m = np.asarray(method, np.float64)
    if m.ndim != 1:
        raise ValueError(f"method should have shape (B,), got {m.shape}")
    bs = [np.asarray(b, np.float64) for b in baselines]
    if not bs:
        raise ValueError("baselines is empty: give at least one seed")
    for i, b in enumerate(bs):
        if b.shape != m.shape:
            raise ValueError(f"baselines[{i}] has shape {b.shape}, method has {m.shape}")

    def mean(x):
        x = x[np.isfinite(x)]
        return float(x.mean()) if x.size else None

    def stat(vals):
        v = [x for x in vals if x is not None]
        return (float(np.mean(v)), float(np.std(v))) if v else (None, None)

    own = [mean(b) for b in bs]
    pm, pb, pd, pn = [], [], [], []
    for b in bs:
        both = np.isfinite(m) & np.isfinite(b)
        pn.append(int(both.sum()))
        if both.any():
            pm.append(float(m[both].mean()))
            pb.append(float(b[both].mean()))
            pd.append(pm[-1] - pb[-1])
    bmean, bstd = stat(own)
    dmean, dstd = stat(pd)
    return {
        "method": mean(m), "n_method": int(np.isfinite(m).sum()),
        "baseline_mean": bmean, "baseline_std": bstd,
        "n_baseline": float(np.mean([np.isfinite(b).sum() for b in bs])),
        "n_seeds": len(bs),
        "paired_method": stat(pm)[0], "paired_baseline": stat(pb)[0],
        "paired_diff": dmean, "paired_diff_std": dstd, "paired_n": float(np.mean(pn)),
    }


def size_auroc(sizes, category) -> np.ndarray:
    """Per image, the AUROC of concept size (channel count) separating *defining* concepts
    (category 0) from the other valid ones (category 1, 2): (B,), NaN where either side is empty.
    The same (image, concept) pairs as the importance AUROC of :mod:`._recovery` (ties count
    1/2), with size as the score instead of importance."""
    sizes, category = np.asarray(sizes, np.float64), np.asarray(category)
    out = np.full(sizes.shape[0], np.nan)
    for i in range(sizes.shape[0]):
        pos, neg = sizes[i, category[i] == 0], sizes[i, category[i] > 0]
        if pos.size and neg.size:
            d = pos[:, None] - neg[None, :]
            out[i] = float(((d > 0) + 0.5 * (d == 0)).mean())
    return out
