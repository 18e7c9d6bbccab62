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
- :func:`confidence_study` bundles both; :func:`ood_table` renders our rows beside the paper's.

Host-side NumPy: the inputs are a few thousand scores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

__all__ = ["PAPER_TABLE4", "PAPER_CONFIDENCE", "ConfidenceStudy", "max_softmax", "crop_logits",
           "ood_metrics", "confidence_study", "confidence_study_from_msp",
           "stream_crop_confidence", "ood_table", "align_crops", "ood_markdown"]

#: App. B, Table 4 of the C2MF paper: (dataset, backbone) -> metrics (reference values, quoted).
PAPER_TABLE4 = {
    ("CUB", "NF-ResNet50"): {"auroc": 0.8701, "fpr95": 0.2442, "aupr_in": 0.7354,
                             "aupr_out": 0.9790},
    ("CUB", "ViT-B/32"): {"auroc": 0.9282, "fpr95": 0.4249, "aupr_in": 0.4944, "aupr_out": 0.9951},
    ("ImageNet", "NF-ResNet50"): {"auroc": 0.8804, "fpr95": 0.7284, "aupr_in": 0.2348,
                                  "aupr_out": 0.9910},
    ("ImageNet", "ViT-B/32"): {"auroc": 0.8400, "fpr95": 0.5872, "aupr_in": 0.3053,
                               "aupr_out": 0.9854},
}
#: App. C of the C2MF paper: (dataset, backbone) -> (mean MSP images, mean MSP patches, Δμ).
PAPER_CONFIDENCE = {
    ("CUB", "NF-ResNet50"): (0.63, 0.21, 0.42),
    ("CUB", "ViT-B/32"): (0.60, 0.21, 0.40),
    ("ImageNet", "NF-ResNet50"): (0.88, 0.46, 0.41),
    ("ImageNet", "ViT-B/32"): (0.80, 0.53, 0.27),
}


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
            store's :class:`~jaxconcepts.features.HeadParams`): logits = crops @ W.T + b, exact
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
    if full.ndim != 2 or cr.ndim != 3 or cr.shape[0] != full.shape[0] or cr.shape[2] != full.shape[1]:
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
    from jaxconcepts.features import RowsView
    from jaxconcepts.features._crop_store import read_crop_store

    read_crop_store(crops, check_index=store_index)
    rows = RowsView(crops, images_per_batch=int(images_per_batch))
    msp, am = [], []
    for b in rows:
        if b.valid.any():
            lg = crop_logits(b.A[b.valid], head, h=h)
            msp.append(max_softmax(lg))
            am.append(lg.argmax(-1))
    return np.concatenate(msp), np.concatenate(am)


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def ood_table(studies: Mapping[str, ConfidenceStudy], *,
              backbones: Mapping[str, str] | None = None) -> str:
    """Markdown: our rows (one per dataset) and the paper's Table 4 / App. C rows beneath.

    Args:
        studies: dataset name -> :class:`ConfidenceStudy`.
        backbones: dataset name -> model name shown in the table (optional).
    """
    backbones = backbones or {}
    head = ("| source | dataset | backbone | images | crops | μ images | μ crops | Δμ | AUROC↑ "
            "| FPR@95TPR↓ | AUPR-In↑ | AUPR-Out↑ |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for name, s in studies.items():
        m = s.metrics
        rows.append(f"| ours | {name} | {backbones.get(name, '–')} | {m['n_in']} | {m['n_out']} "
                    f"| {_f(s.mu_full)} | {_f(s.mu_crops)} | {_f(s.delta_mu)} | {_f(m['auroc'])} "
                    f"| {_f(m['fpr95'])} | {_f(m['aupr_in'])} | {_f(m['aupr_out'])} |")
    for (ds, bb), m in PAPER_TABLE4.items():
        mu_f, mu_c, d = PAPER_CONFIDENCE[(ds, bb)]
        rows.append(f"| paper | {ds} | {bb} | – | – | {mu_f:.2f} | {mu_c:.2f} | {d:.2f} "
                    f"| {m['auroc']:.3f} | {m['fpr95']:.3f} | {m['aupr_in']:.3f} "
                    f"| {m['aupr_out']:.3f} |")
    rows += ["", "Score: max-softmax probability; full images are the in-distribution (positive) "
             "class, CRAFT's crops the OOD class. Paper rows: C2MF App. B Table 4 and App. C "
             "(μ, Δμ approximate, as printed). AUPR-In depends on the share of positives "
             "(here 1 image : n_crops crops)."]
    return "\n".join(rows)


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


def ood_markdown(study: ConfidenceStudy, dataset: str, *, backbone: str, min_images: int,
                 figure: str | None = None) -> str:
    """The ``ood`` stage's Markdown: our row beside the paper's (:func:`ood_table`), what it shows
    next to the paper's ImageNet / NF-ResNet50 row, and a warning when the dataset has fewer
    than ``min_images`` images (then the numbers are an observation, not a result)."""
    m = study.metrics
    ref_mu = PAPER_CONFIDENCE[("ImageNet", "NF-ResNet50")]
    ref = PAPER_TABLE4[("ImageNet", "NF-ResNet50")]
    lines = [f"## Confidence of complete images vs CRAFT's crops ({dataset})", "",
             "C2MF §2.1, App. B Table 4 and App. C Fig. 5: CRAFT fits its concepts on random "
             "crops; if the model treats crops as out-of-distribution, the concepts come from "
             "inputs it is unsure about.", "",
             ood_table({dataset: study}, backbones={dataset: backbone}), ""]
    small = m["n_in"] < min_images
    if small:
        lines += [f"**Too small to conclude:** {dataset} has {m['n_in']} images (fewer than "
                  f"`ood.min_images` = {min_images}). The row above is an observation on these "
                  "images, not an estimate of the model's behaviour; the AUROC of so few "
                  "in-distribution samples moves by several points when one image changes.", ""]
    verdict = ("reproduces" if (m["auroc"] >= 0.75 and study.delta_mu >= 0.2) else
               "does not reproduce")
    lines += [f"Against the paper's ImageNet / NF-ResNet50 row (AUROC {ref['auroc']:.2f}, "
              f"Δμ ≈ {ref_mu[2]:.2f}: μ images {ref_mu[0]:.2f}, μ crops {ref_mu[1]:.2f}) this run "
              f"has AUROC {_f(m['auroc'])} and Δμ = {_f(study.delta_mu)} (μ images "
              f"{_f(study.mu_full)}, μ crops {_f(study.mu_crops)}): it {verdict} the paper's "
              "finding that crops are markedly less confident than complete images "
              "(here: AUROC ≥ 0.75 and Δμ ≥ 0.2)"
              + (", on too few images to say more" if small else "") + ". "
              f"{study.agree:.0%} of the crops keep their image's predicted class.", ""]
    if figure:
        lines += [f"![MSP of complete images and crops ({dataset})]({figure})", ""]
    return "\n".join(lines)
