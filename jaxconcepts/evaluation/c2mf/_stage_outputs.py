"""The C2MF evaluation stage's data outputs besides the metrics dict: the loss history as CSV,
the metrics of a dataset with C2MF turned off and the lines the stage prints.

The Markdown pages (Tables 1–3 of the C2MF paper, the controls, the ground truth ...) are the
report layer's: :func:`jaxconcepts.report.markdown_report`.

- :func:`loss_csv` — the C2MF loss history per k as a wide CSV (DVC plot: x = ``step``);
- :func:`disabled_metrics` — the metrics of a dataset whose ``c2mf.enabled`` is false, with why;
- :func:`c2mf_summary` — the lines the ``c2mf`` stage prints.
"""

from __future__ import annotations

from typing import Mapping, Sequence

__all__ = ["disabled_metrics", "c2mf_summary", "loss_csv"]


def loss_csv(histories: Mapping[int, Sequence[float]]) -> str:
    """Wide CSV ``step,k5,k10,...``: the C2MF objective per optimiser step for each k.

    Runs that stopped earlier (convergence) leave their later cells empty.
    """
    ks = sorted(histories)
    n = max((len(histories[k]) for k in ks), default=0)
    lines = [",".join(["step"] + [f"k{k}" for k in ks])]
    for s in range(n):
        cells = [str(s)]
        for k in ks:
            h = histories[k]
            cells.append(repr(float(h[s])) if s < len(h) else "")
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def disabled_metrics(dataset: str, n_images: int, n_classes: int) -> dict:
    """The metrics of a dataset whose ``c2mf.enabled`` is false: nothing is fitted, and the note
    says why (the page: :func:`jaxconcepts.report.c2mf_disabled_markdown`): with fewer than 2
    images per class, C2MF's evaluation is not supported; otherwise the dataset's params turned
    it off."""
    per_class = n_images / max(n_classes, 1)
    counts = f"{n_images} images in {n_classes} classes ({per_class:.1f} per class)"
    if per_class < 2:
        reason = (f"not supported on this dataset: {counts}. C2MF's gates, the per-class "
                  "baselines (CRAFT, PCA) and every table (reconstruction accuracy per class, "
                  "insertion/deletion on test images, consistency) need a train/test split "
                  "*within* each class, i.e. at least 2 images per class and many more for a "
                  "mean ± std; with about one image per class only a dictionary over all images "
                  "could be fitted, which tests nothing the paper claims. Set `c2mf.enabled: "
                  "true` for a dataset with several images per class (e.g. `planted`).")
    else:
        reason = (f"turned off for this dataset (`c2mf.enabled: false` in its params.yaml "
                  f"entry); nothing was fitted. It has {counts}, counting each image's explained "
                  "class; set `c2mf.enabled: true` to run the C2MF suite on it.")
    return {"dataset": dataset, "enabled": False, "note": reason, "n_images": n_images,
            "n_classes": n_classes}


def c2mf_summary(metrics: Mapping, dataset: str) -> str:
    """The lines the ``c2mf`` stage prints: the note, each fit's headline numbers, the time."""
    lines = [f"c2mf ({dataset}): {metrics['note']}"] if metrics["note"] else []
    for m, per_k in metrics["results"].items():
        for kk, e in per_k.items():
            r = e["reconstruction"]
            lines.append(f"c2mf {m} {kk} (k={e['k_used']}): rec acc (pred) "
                         f"{r['acc_pred_mean']} | test mse {e['consistency']['test_mse']:.4g}")
    lines.append(f"c2mf ({dataset}): {metrics['seconds']} s; "
                 f"{len(metrics['too_small_classes'])} classes too small")
    return "\n".join(lines)
