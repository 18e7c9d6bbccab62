"""Evaluation of extracted concepts.

- Recovery of planted ground-truth parts (concept maps vs part masks, importance vs recipe).
- The C2MF paper's suite: insertion/deletion in concept space (Grad-CAM / IG ranking on codes),
  concept similarity, per-class reconstruction accuracy, train/test consistency.
"""

from jaxconcepts.evaluation._c2mf_eval import (
    InsertionDeletion,
    concept_similarity,
    consistency,
    insertion_deletion,
    reconstruction_accuracy,
)
from jaxconcepts.evaluation._c2mf_eval import concept_importance as code_importance
from jaxconcepts.evaluation._recovery import (
    RecoveryScores,
    auroc_pixels,
    group_maps,
    random_grouping,
    score_maps,
    summarise,
    upsample_maps,
)

__all__ = [
    "RecoveryScores",
    "auroc_pixels",
    "group_maps",
    "random_grouping",
    "score_maps",
    "summarise",
    "upsample_maps",
    "InsertionDeletion",
    "insertion_deletion",
    "code_importance",
    "concept_similarity",
    "reconstruction_accuracy",
    "consistency",
]
