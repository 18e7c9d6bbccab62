"""Does the backbone recognise each object class? Top-1 / top-5 against the class's synsets.

On the ``objects`` benchmark every image shows one object of a known class, and each class lists
the ImageNet-1k synsets a classifier should answer for it (its own synset and the WordNet
neighbours chosen by hand in :mod:`jaxconcepts.datasets._objects`, e.g. tabby / tiger cat /
Egyptian cat for the cat). A class with no synset (the astronaut) is *not an ImageNet class*; a
class whose top-5 share stays below one half is *not recognised*. Both are kept in the benchmark
and labelled as such: the papers' claims are then read on recognised classes and on all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from jaxconcepts.evaluation._intervals import bootstrap_mean

__all__ = ["recognition"]


def recognition(logits, labels, class_names: Sequence[str], class_wnids: Sequence[Sequence[str]],
                synsets: Sequence[str], lemmas: Sequence[str] | None = None, *, top: int = 5,
                seed: int = 0) -> list[dict]:
    """Per class: the share of its images whose top-1 / top-``top`` prediction is one of its
    synsets, with 95 % bootstrap intervals, the three most frequent top-1 answers, and a status.

    Args:
      logits: (N, n_outputs) the head's logits; labels: (N,) object class of each image.
      class_names, class_wnids: per class its name and accepted synsets (may be empty).
      synsets: the head's output synsets in order (ImageNet-1k: 1000); lemmas: their names.

    Raises:
      ValueError: shapes disagree, a label is outside the classes, or a synset is unknown.
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"logits (N, n_outputs) and labels (N,) expected, got {logits.shape} "
                         f"and {labels.shape}")
    if len(class_wnids) != len(class_names):
        raise ValueError(f"class_wnids has {len(class_wnids)} entries, class_names "
                         f"{len(class_names)}")
    if labels.size and not (0 <= labels.min() and labels.max() < len(class_names)):
        raise ValueError(f"labels range over [{labels.min()}, {labels.max()}], outside the "
                         f"{len(class_names)} classes")
    index = {w: i for i, w in enumerate(synsets)}
    unknown = sorted({w for ws in class_wnids for w in ws} - set(index))
    if unknown:
        raise ValueError(f"synsets {unknown} are not outputs of the head ({len(synsets)} outputs)")
    order = np.argsort(-logits, axis=1, kind="stable")[:, :top]
    name = (lambda i: lemmas[i]) if lemmas is not None else (lambda i: synsets[i])
    out = []
    for c, (cname, wnids) in enumerate(zip(class_names, class_wnids)):
        rows = order[labels == c]
        ok = np.isin(rows, [index[w] for w in wnids])
        top1 = bootstrap_mean(ok[:, 0].astype(float), seed=seed) if wnids else None
        topk = bootstrap_mean(ok.any(1).astype(float), seed=seed) if wnids else None
        if not wnids:
            status = "not an ImageNet class"
        elif topk["mean"] is None:
            status = "no images"
        else:
            status = "recognised" if topk["mean"] >= 0.5 else "not recognised"
        out.append({
            "class": cname, "n_images": int(rows.shape[0]), "wnids": list(wnids),
            "top1": top1, f"top{top}": topk, "top": top, "status": status,
            "answers": [[name(int(i)), int(n)]
                        for i, n in Counter(rows[:, 0].tolist()).most_common(3)],
        })
    return out
