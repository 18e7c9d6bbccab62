"""Confidence of full images vs CRAFT's crops, and OOD metrics (C2MF §2.1, App. B-C).

The C2MF paper argues that CRAFT learns its concepts on *crops* that the model treats as
out-of-distribution: their max-softmax probability (MSP) is much lower than that of the complete
images (App. C, Fig. 5: ImageNet / NF-ResNet50 has mean confidence 0.88 on images, 0.46 on
crops, Δμ ≈ 0.41), and MSP separates the two (App. B, Table 4: AUROC 0.88). This module computes
the same quantities for any store:

- :func:`max_softmax` of logits; :func:`crop_logits` turns the ``crops`` stage output
  ``(N, n_crops, C)`` (g of each crop, averaged over space) into logits with the store's
  GAP + linear head (``crops @ W.T + b``), or with any callable ``h`` on ``(m, C)`` rows;
- :func:`ood_metrics`: AUROC, AUPR-In, AUPR-Out and FPR@95TPR with the **full images as the
  in-distribution (positive) class** and MSP as the score (higher = more in-distribution);
  identical to scikit-learn's ``roc_auc_score``, ``average_precision_score`` and ``roc_curve``
  (tested), ties included;
- :func:`confidence_study` bundles both (the page beside the paper's rows is the report layer's:
  :func:`jaxconcepts.report.ood_markdown`);
- with ground-truth masks (planted, objects): :func:`mask_fraction_in_boxes` /
  :func:`object_fractions` give the share of each image's object (its defining parts) inside each
  crop box, and :func:`object_split` the same metrics for the crops that keep the object and
  those that lose it, with 95 % bootstrap intervals over images
  (:func:`jaxconcepts.report.object_split_markdown`).

Host-side NumPy: the inputs are a few thousand scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["ConfidenceStudy", "max_softmax", "crop_logits", "ood_metrics", "confidence_study",
           "confidence_study_from_msp", "stream_crop_confidence", "align_crops",
           "mask_fraction_in_boxes", "object_fractions", "object_split"]

class ConfidenceStudy(NamedTuple):
    """MSP of full images and of their crops, the mean gap and the OOD metrics.

    conf_full: (N,) MSP of each image; conf_crops: (N·n_crops,) MSP of each crop.
    mu_full, mu_crops: their means; delta_mu = mu_full − mu_crops.
    metrics: :func:`ood_metrics` (full images positive).
    agree: fraction of crops whose argmax class equals their image's.
    """

    conf_full: np.ndarray
    conf_crops: np.ndarray
    mu_full: float
    mu_crops: float
    delta_mu: float
    metrics: dict
    agree: float

    def summary(self) -> dict:
        """JSON-ready metrics (no per-sample arrays): μ, Δμ, agreement and the OOD metrics."""
        return {"mu_full": self.mu_full, "mu_crops": self.mu_crops, "delta_mu": self.delta_mu,
                "agree": self.agree, **self.metrics}


def max_softmax(logits) -> np.ndarray:
    """``(..., K)`` logits -> ``(...)`` max softmax probability, computed stably in float64."""
    z = np.asarray(logits, np.float64)
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"logits should have shape (..., K) with K >= 1, got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits contain NaN or inf")
    z = z - z.max(-1, keepdims=True)
    return 1.0 / np.exp(z).sum(-1)  # max softmax = exp(0) / sum exp(z - max)


def crop_logits(crops, head=None, *, h: Callable | None = None) -> np.ndarray:
    """Logits of CRAFT's crops: ``(N, n_crops, C)`` pooled crop activations -> ``(N, n_crops, K)``.

    Args:
        crops: ``(N, n_crops, C)`` g of each crop averaged over space (``crops`` stage output).
        head: a GAP + linear head (anything with ``weight`` (K, C) and ``bias`` (K,), e.g. the
            store's :class:`~jaxconcepts.store.HeadParams`): logits = crops @ W.T + b, exact
            because averaging then a linear map equals the head on the pooled row.
        h: instead of ``head``, a callable mapping ``(m, C)`` pooled rows to ``(m, K)`` logits.

    Raises:
        ValueError: shapes disagree, or neither / both of ``head`` and ``h`` given.
    """
    x = np.asarray(crops, np.float32)
    if x.ndim != 3:
        raise ValueError(f"crops should have shape (N, n_crops, C), got {x.shape}")
    if (head is None) == (h is None):
        raise ValueError("give exactly one of head (GAP + linear) or h (a callable on rows)")
    n, m, c = x.shape
    rows = x.reshape(n * m, c)
    if head is not None:
        w, b = np.asarray(head.weight, np.float32), np.asarray(head.bias, np.float32)
        if w.ndim != 2 or w.shape[1] != c or b.shape != (w.shape[0],):
            raise ValueError(f"head weight {w.shape} / bias {b.shape} do not fit crops with "
                             f"C={c} channels (expected weight (K, {c}) and bias (K,))")
        out = rows @ w.T + b
    else:
        out = np.asarray(h(rows))
        if out.ndim != 2 or out.shape[0] != n * m:
            raise ValueError(f"h should map ({n * m}, {c}) rows to ({n * m}, K), got {out.shape}")
    return out.reshape(n, m, -1)


def _check_scores(score_in, score_out):
    a = np.asarray(score_in, np.float64).ravel()
    b = np.asarray(score_out, np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError(f"need scores on both sides, got {a.size} in-distribution and "
                         f"{b.size} OOD")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("scores contain NaN or inf")
    return a, b


def _curve(a, b):
    """Cumulative TP, FP at each distinct threshold, descending (sklearn's roc/pr points)."""
    s = np.concatenate([a, b])
    pos = np.concatenate([np.ones(a.size), np.zeros(b.size)])
    order = np.argsort(-s, kind="mergesort")
    s, pos = s[order], pos[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each run of ties
    tp = np.cumsum(pos)[last]
    fp = (last + 1) - tp
    return tp, fp


def _average_precision(a, b):
    tp, fp = _curve(a, b)
    precision = tp / (tp + fp)
    recall = tp / a.size
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def ood_metrics(score_in, score_out, *, tpr: float = 0.95) -> dict:
    """Score-only OOD detection metrics (App. B of the C2MF paper).

    Args:
        score_in: scores of in-distribution samples (full images), higher = more in-distribution.
        score_out: scores of OOD samples (crops).
        tpr: the operating point of ``fpr95`` (share of in-distribution samples accepted).

    Returns:
        ``auroc`` (probability that an in-distribution score exceeds an OOD one, ties 1/2),
        ``aupr_in`` (average precision, in-distribution positive), ``aupr_out`` (OOD positive,
        score negated), ``fpr95`` (share of OOD samples accepted at the highest threshold that
        accepts at least ``tpr`` of the in-distribution samples), ``n_in``, ``n_out``.
    """
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr={tpr} should be in (0, 1]")
    a, b = _check_scores(score_in, score_out)
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size)
    sorted_s = both[order]
    # average ranks for ties (Mann-Whitney U)
    starts = np.r_[0, np.nonzero(np.diff(sorted_s))[0] + 1]
    ends = np.r_[starts[1:], both.size]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    auroc = (ranks[: a.size].sum() - a.size * (a.size + 1) / 2) / (a.size * b.size)
    tp, fp = _curve(a, b)
    hit = np.nonzero(tp / a.size >= tpr - 1e-12)[0][0]
    return {
        "auroc": float(auroc),
        "aupr_in": _average_precision(a, b),
        "aupr_out": _average_precision(-b, -a),
        "fpr95": float(fp[hit] / b.size),
        "n_in": int(a.size),
        "n_out": int(b.size),
    }


def confidence_study(full_logits, crops_logits, *, tpr: float = 0.95) -> ConfidenceStudy:
    """MSP of full images vs their crops, Δμ and :func:`ood_metrics` (App. B-C).

    Args:
        full_logits: ``(N, K)`` logits of the complete images (the store's ``logits``).
        crops_logits: ``(N, n_crops, K)`` logits of each image's crops (:func:`crop_logits`).
        tpr: the true-positive rate of the FPR metric (0.95: FPR@95TPR).
    """
    full = np.asarray(full_logits, np.float64)
    cr = np.asarray(crops_logits, np.float64)
    if (full.ndim != 2 or cr.ndim != 3 or cr.shape[0] != full.shape[0]
            or cr.shape[2] != full.shape[1]):
        raise ValueError(f"full_logits (N, K) and crops_logits (N, n_crops, K) disagree: "
                         f"{full.shape} vs {cr.shape}")
    return confidence_study_from_msp(full, max_softmax(cr), cr.argmax(-1), tpr=tpr)


def confidence_study_from_msp(full_logits, crop_msp, crop_argmax, *,
                              tpr: float = 0.95) -> ConfidenceStudy:
    """:func:`confidence_study` from each crop's MSP and argmax class ``(N, n_crops)`` (what
    :func:`stream_crop_confidence` gives without holding any crop's logits)."""
    full = np.asarray(full_logits, np.float64)
    msp, am = np.asarray(crop_msp, np.float64), np.asarray(crop_argmax)
    if full.ndim != 2 or msp.shape != am.shape or msp.ndim != 2 or msp.shape[0] != full.shape[0]:
        raise ValueError(f"full_logits (N, K), crop_msp and crop_argmax (N, n_crops) disagree: "
                         f"{full.shape}, {msp.shape}, {am.shape}")
    cf, cc = max_softmax(full), msp.ravel()
    agree = float((am == full.argmax(-1)[:, None]).mean())
    mu_f, mu_c = float(cf.mean()), float(cc.mean())
    return ConfidenceStudy(cf, cc, mu_f, mu_c, mu_f - mu_c, ood_metrics(cf, cc, tpr=tpr), agree)


def stream_crop_confidence(crops, head=None, *, store_index, h: Callable | None = None,
                           images_per_batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(msp, argmax)`` ``(N, n_crops)`` of every crop of a crop store (the ``crops`` stage's
    folder), streamed image batch by image batch in the activation store's order
    (``store_index``, checked): only per-crop scalars are held, never the crops or their logits.
    ``head`` / ``h`` as in :func:`crop_logits`."""
    from jaxconcepts.store import RowsView, read_crop_store

    read_crop_store(crops, check_index=store_index)
    rows = RowsView(crops, images_per_batch=int(images_per_batch))
    msp, am = [], []
    for b in rows:
        if b.valid.any():
            lg = crop_logits(b.A[b.valid], head, h=h)
            msp.append(max_softmax(lg))
            am.append(lg.argmax(-1))
    return np.concatenate(msp), np.concatenate(am)


def align_crops(crops, crop_index, store_index) -> np.ndarray:
    """The crops file's rows in the store's row order: ``(N, n_crops, C)``.

    Raises:
        ValueError: a store image has no crops (the crops file is stale: rerun the ``crops``
            stage).
    """
    pos = {int(i): r for r, i in enumerate(np.asarray(crop_index))}
    missing = [int(i) for i in np.asarray(store_index) if int(i) not in pos]
    if missing:
        raise ValueError(f"{len(missing)} store images have no crops (first ids {missing[:5]}); "
                         "the crops file is stale: rerun the crops stage")
    return np.asarray(crops)[[pos[int(i)] for i in np.asarray(store_index)]]


# -- crops that keep / lose the object (datasets with ground-truth masks) --------------------------


def _check_boxes(boxes, size: tuple[int, int], where: str) -> np.ndarray:
    b = np.asarray(boxes)
    if b.ndim != 2 or b.shape[1] != 4 or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(f"{where}: boxes should be integer (n_crops, 4) (top, left, height, "
                         f"width), got {b.dtype} {b.shape}")
    H, W = size
    t, l, h, w = b.T.astype(np.int64)
    bad = (t < 0) | (l < 0) | (h < 1) | (w < 1) | (t + h > H) | (l + w > W)
    if bad.any():
        raise ValueError(f"{where}: box {b[np.argmax(bad)].tolist()} (top, left, height, width) "
                         f"does not lie inside the {H}x{W} mask")
    return b.astype(np.int64)


def _fraction_in_boxes(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """:func:`mask_fraction_in_boxes` on checked input: one summed-area table, four look-ups a
    box."""
    S = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    S[1:, 1:] = mask.cumsum(0, dtype=np.int64).cumsum(1)
    total = S[-1, -1]
    if total == 0:
        return np.full(len(boxes), np.nan)
    t, l, h, w = boxes.T
    inside = S[t + h, l + w] - S[t, l + w] - S[t + h, l] + S[t, l]
    return inside / total


def mask_fraction_in_boxes(mask, boxes) -> np.ndarray:
    """Share of a mask's area that falls inside each crop box, for one image.

    Args:
        mask: ``(H, W)`` bool, the object's pixels (in model-input pixels).
        boxes: ``(n_crops, 4)`` int ``(top, left, height, width)``, as the crop store records
            them (:func:`jaxconcepts.features._crops.crop_boxes`); each must lie inside the mask.

    Returns:
        ``(n_crops,)`` float64 in [0, 1]: |mask ∩ box| / |mask|; NaN for every box when the mask
        is empty (the share is undefined, not 0).

    Raises:
        ValueError: ``mask`` not 2-D, ``boxes`` not integer ``(n_crops, 4)``, or a box outside
            the mask.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask should have shape (H, W), got {m.shape}")
    b = _check_boxes(boxes, m.shape, "mask_fraction_in_boxes")
    return _fraction_in_boxes(m.astype(bool), b)


def object_fractions(part_map, defining, boxes, *, input_size: tuple[int, int]) -> np.ndarray:
    """Share of each image's object inside each of its crop boxes: ``(N, n_crops)``.

    The object is the union of the image's defining parts: for ``objects`` the one pasted object
    (``defining`` is the one-hot of its class), for ``planted`` the parts of the class recipe
    (distractors are not the object). Rows of ``part_map`` / ``defining`` must already be in the
    crop store's image order (``match_rows``).

    Args:
        part_map: ``(N, H, W)`` int, ``-1`` background, else a part index ``< P``
            (:class:`~jaxconcepts.datasets.PlantedTruth`).
        defining: ``(N, P)`` bool, the parts that define each image's class.
        boxes: ``(N, n_crops, 4)`` int crop boxes in model-input pixels
            (:func:`~jaxconcepts.store.read_crop_boxes`).
        input_size: ``(H, W)`` of the model input the boxes refer to; the masks must have that
            size (the dataset was extracted with the input equal to the image, crop_pct 1.0).

    Returns:
        ``(N, n_crops)`` float64 in [0, 1], NaN for an image without object pixels.

    Raises:
        ValueError: the masks' size is not ``input_size`` (both named), or shapes disagree, or a
            box lies outside the input.
    """
    pm = np.asarray(part_map)
    dfn = np.asarray(defining, bool)
    b = np.asarray(boxes)
    size = tuple(int(v) for v in input_size)
    if pm.ndim != 3:
        raise ValueError(f"part_map should have shape (N, H, W), got {pm.shape}")
    if pm.shape[1:] != size:
        raise ValueError(f"the truth masks are {pm.shape[1]}x{pm.shape[2]} but the crop boxes "
                         f"refer to a {size[0]}x{size[1]} model input: the masks do not align "
                         "with the crops (extract the dataset with the input equal to the image "
                         "size and crop_pct 1.0)")
    if b.ndim != 3 or b.shape[0] != pm.shape[0] or b.shape[2] != 4:
        raise ValueError(f"boxes should have shape (N={pm.shape[0]}, n_crops, 4), got {b.shape}")
    if dfn.ndim != 2 or dfn.shape[0] != pm.shape[0] or (pm.size and pm.max() >= dfn.shape[1]):
        raise ValueError(f"defining {dfn.shape} should be (N={pm.shape[0]}, P) with P above every "
                         f"part index of part_map (max {int(pm.max()) if pm.size else None})")
    _check_boxes(b.reshape(-1, 4), size, "object_fractions")
    out = np.empty(b.shape[:2])
    for i in range(pm.shape[0]):  # one image's mask at a time: memory is one (H, W) table
        mask = (pm[i] >= 0) & dfn[i][np.maximum(pm[i], 0)]
        out[i] = _fraction_in_boxes(mask, b[i].astype(np.int64))
    return out


def _weighted_auroc(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """AUROC (ties 1/2) of in-distribution scores ``a`` (n,) vs OOD ``b`` (m,) under per-sample
    integer weights ``wa (B, n)``, ``wb (B, m)``: the AUROC of B resamples at once (a sample of
    weight k counts k times), without materialising them. NaN where a side has weight 0."""
    order = np.argsort(b, kind="mergesort")
    bs = b[order]
    below = np.searchsorted(bs, a, side="left")  # OOD scores < a_i
    upto = np.searchsorted(bs, a, side="right")  # OOD scores <= a_i
    cw = np.zeros((wb.shape[0], b.size + 1))
    cw[:, 1:] = np.cumsum(wb[:, order], 1)
    wins = cw[:, below] + 0.5 * (cw[:, upto] - cw[:, below])  # (B, n)
    den = wa.sum(1) * wb.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (wa * wins).sum(1) / den, np.nan)


def _subset_row(full, crops, agree, sel, *, tpr) -> dict:
    n = int(sel.sum())
    row = {"n_crops": n, "n_images": int(sel.any(1).sum())}
    if not n:
        return {**row, "mu_crops": None, "delta_mu": None, "agree": None, "auroc": None,
                "aupr_in": None, "aupr_out": None, "fpr95": None, "n_in": int(full.size),
                "n_out": 0}
    mu_c = float(crops[sel].mean())
    return {**row, "mu_crops": mu_c, "delta_mu": float(full.mean()) - mu_c,
            "agree": None if agree is None else float(agree[sel].mean()),
            **ood_metrics(full, crops[sel], tpr=tpr)}


def _interval(values: np.ndarray, level: float) -> dict:
    v = values[np.isfinite(values)]
    if not v.size:
        return {"lo": None, "hi": None, "n_boot": 0}
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [a, 1.0 - a])
    return {"lo": float(lo), "hi": float(hi), "n_boot": int(v.size)}


def _bootstrap_split(full, crops, subsets: dict, *, n_boot: int, seed: int, level: float,
                     chunk: int = 256) -> dict:
    """Percentile intervals of Δμ and AUROC of every subset, resampling images (with their
    crops) with replacement; every subset sees the same resamples, so the interval of the
    difference loses − keeps is paired."""
    rng = np.random.default_rng(seed)
    N = full.size
    img = np.repeat(np.arange(N), crops.shape[1]).reshape(crops.shape)
    draws = {k: {"delta_mu": [], "auroc": []} for k in subsets}
    for s in range(0, n_boot, chunk):
        B = min(chunk, n_boot - s)
        idx = rng.integers(0, N, size=(B, N))
        wa = np.bincount((idx + N * np.arange(B)[:, None]).ravel(),
                         minlength=B * N).reshape(B, N).astype(np.float64)
        mu_f = wa @ full / N
        for k, sel in subsets.items():
            if not sel.any():
                draws[k]["delta_mu"].append(np.full(B, np.nan))
                draws[k]["auroc"].append(np.full(B, np.nan))
                continue
            c, wb = crops[sel], wa[:, img[sel]]
            tot = wb.sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                draws[k]["delta_mu"].append(np.where(tot > 0, mu_f - wb @ c / tot, np.nan))
            draws[k]["auroc"].append(_weighted_auroc(full, c, wa, wb))
    out = {k: {m: np.concatenate(v) for m, v in d.items()} for k, d in draws.items()}
    ci = {k: {f"{m}_ci": _interval(v, level) for m, v in d.items()} for k, d in out.items()}
    if "keeps" in out and "loses" in out:
        from jaxconcepts.evaluation._intervals import verdict

        diff = {}
        for m in ("delta_mu", "auroc"):
            iv = _interval(out["loses"][m] - out["keeps"][m], level)
            diff[m] = {**iv, "verdict": verdict(iv["lo"], iv["hi"])}
        ci["loses_minus_keeps"] = diff
    return ci


def object_split(full_msp, crop_msp, fraction, *, keep_fraction: float, tpr: float = 0.95,
                 agree=None, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """The OOD metrics of the crops that keep the object vs those that lose it (C2MF App. B-C).

    C2MF reads the confidence drop from images to crops as "crops are out of distribution". On a
    dataset where a full image always shows its object, part of that drop may simply be crops
    that cut the object away. This splits the crops by the share of the object inside them
    (:func:`object_fractions`) and computes, for each subset against **all** full images (the
    in-distribution side, as in :func:`confidence_study`): μ of the crops, Δμ, AUROC,
    AUPR-In/Out, FPR at ``tpr``, with percentile-bootstrap intervals of Δμ and AUROC over images
    (resampled with replacement, each taking its crops along; seeded, the same resamples for
    every subset).

    Args:
        full_msp: ``(N,)`` MSP of the complete images.
        crop_msp: ``(N, n_crops)`` MSP of each image's crops (:func:`stream_crop_confidence`).
        fraction: ``(N, n_crops)`` share of the object inside each crop, NaN when undefined.
        keep_fraction: a crop keeps the object when ``fraction >= keep_fraction``.
        tpr: operating point of ``fpr95``.
        agree: optional ``(N, n_crops)`` bool, the crop keeps its image's predicted class.
        n_boot, seed, level: the bootstrap (``n_boot`` 0: no intervals).

    Returns:
        ``{"all", "keeps", "loses", "none": row, "loses_minus_keeps": paired intervals,
        "settings": {...}}``; a row holds ``n_crops``, ``n_images`` (with at least one such
        crop), ``mu_crops``, ``delta_mu``, ``agree``, the :func:`ood_metrics` keys and
        ``delta_mu_ci`` / ``auroc_ci`` (``lo``, ``hi``, ``n_boot``: resamples where the subset
        was not empty). ``none`` (no object pixel in the crop) is a part of ``loses``. Crops with
        an undefined fraction are only in ``all`` (``settings.n_undefined``). Metrics of an
        empty subset are None.

    Raises:
        ValueError: shapes disagree, ``keep_fraction`` not in (0, 1], ``level`` not in (0, 1),
            ``n_boot`` < 0.
    """
    full = np.asarray(full_msp, np.float64)
    crops = np.asarray(crop_msp, np.float64)
    frac = np.asarray(fraction, np.float64)
    if (full.ndim != 1 or crops.ndim != 2 or crops.shape[0] != full.size
            or frac.shape != crops.shape):
        raise ValueError(f"full_msp (N,), crop_msp and fraction (N, n_crops) disagree: "
                         f"{full.shape}, {crops.shape}, {frac.shape}")
    ag = None if agree is None else np.asarray(agree, bool)
    if ag is not None and ag.shape != crops.shape:
        raise ValueError(f"agree should have shape {crops.shape}, got {ag.shape}")
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction={keep_fraction} should be in (0, 1]")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level} should be in (0, 1)")
    if n_boot < 0:
        raise ValueError(f"n_boot={n_boot} should be >= 0")
    defined = np.isfinite(frac)
    with np.errstate(invalid="ignore"):
        subsets = {"all": np.ones(crops.shape, bool), "keeps": defined & (frac >= keep_fraction),
                   "loses": defined & (frac < keep_fraction), "none": defined & (frac == 0)}
    out = {k: _subset_row(full, crops, ag, sel, tpr=tpr) for k, sel in subsets.items()}
    if n_boot:
        ci = _bootstrap_split(full, crops, {k: subsets[k] for k in ("all", "keeps", "loses")},
                              n_boot=n_boot, seed=seed, level=level)
        for k in ("all", "keeps", "loses"):
            out[k].update(ci[k])
        out["loses_minus_keeps"] = ci["loses_minus_keeps"]
    out["settings"] = {"keep_fraction": float(keep_fraction), "n_boot": int(n_boot),
                       "seed": int(seed), "level": float(level), "tpr": float(tpr),
                       "n_undefined": int((~defined).sum()),
                       "mean_fraction": float(np.nanmean(frac)) if defined.any() else None}
    return out
