"""Evaluation of extracted concepts: the papers' suites as library code.

- Recovery of planted ground-truth parts (concept maps vs part masks, importance vs recipe), and
  the recovery stage's sources and table.
- The C2MF paper's suite: insertion/deletion in concept space (Grad-CAM / IG ranking on codes),
  concept similarity, per-class reconstruction accuracy, train/test consistency; the rows view and
  the whole run (``run_c2mf``).
- Lambert et al.'s Tables 1–2 (clustering algorithms compared).
"""

from jaxconcepts.evaluation._c2mf_eval import (
    ClassMSE,
    InsertionDeletion,
    concept_similarity,
    consistency,
    insertion_deletion,
    model_insertion_deletion,
    per_class_accuracy,
    reconstruction_accuracy,
    reconstructed_predictions,
)
from jaxconcepts.evaluation._c2mf_report import loss_csv, markdown_report
from jaxconcepts.evaluation._c2mf_run import run_c2mf
from jaxconcepts.evaluation._c2mf_suite import (
    SharedDictionary,
    ablation,
    cluster_pool,
    evaluate_model,
    fit_method,
)
from jaxconcepts.evaluation._recovery import (
    RecoveryScores,
    auroc_pixels,
    random_grouping,
    score_maps,
    summarise,
)
from jaxconcepts.evaluation._recovery_suite import (
    match_rows,
    planted_scores,
    run_recovery,
)
from jaxconcepts.evaluation._rows import (
    ImageRows,
    RowsView,
    Split,
    k_caps,
    load_crops,
    load_image_rows,
    split_by_image,
)

__all__ = [
    "RecoveryScores",
    "auroc_pixels",
    "random_grouping",
    "score_maps",
    "summarise",
    "match_rows",
    "planted_scores",
    "run_recovery",
    "InsertionDeletion",
    "insertion_deletion",
    "model_insertion_deletion",
    "reconstructed_predictions",
    "per_class_accuracy",
    "ClassMSE",
    "concept_similarity",
    "reconstruction_accuracy",
    "consistency",
    "run_c2mf",
    "SharedDictionary",
    "ablation",
    "cluster_pool",
    "evaluate_model",
    "fit_method",
    "ImageRows",
    "RowsView",
    "Split",
    "k_caps",
    "load_crops",
    "load_image_rows",
    "split_by_image",
    "loss_csv",
    "markdown_report",
]
