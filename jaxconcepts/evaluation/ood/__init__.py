"""C2MF App. B–C: the confidence of full images vs CRAFT's crops, and OOD metrics (data only).

- :mod:`._confidence`: max-softmax of images and crops, AUROC / AUPR / FPR@95TPR, and the split of
  crops by how much of the object they keep.
"""

from jaxconcepts.evaluation.ood._confidence import (
    ConfidenceStudy,
    align_crops,
    confidence_study,
    crop_logits,
    max_softmax,
    ood_metrics,
)

__all__ = [
    "ConfidenceStudy",
    "align_crops",
    "confidence_study",
    "crop_logits",
    "max_softmax",
    "ood_metrics",
]
