"""Evaluation of extracted concepts: the papers' suites as library code.

- Recovery of planted ground-truth parts (concept maps vs part masks, importance vs recipe), and
  the recovery stage's sources and table.
- The C2MF paper's suite: insertion/deletion in concept space (Grad-CAM / IG ranking on codes),
  concept similarity, per-class reconstruction accuracy, train/test consistency; the rows view and
  the whole run (``run_c2mf``).
- Lambert et al.'s Tables 1–2 and Fig. 2's records (clustering algorithms compared).
- C2MF App. B–C (confidence of images vs crops, OOD metrics), App. E (concept naming), the concept
  atlas's data, the α sweep, and the paired random baseline of the recovery table.
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
    SplitRowsView,
    Split,
    k_caps,
    load_image_rows,
    split_by_image,
)

from jaxconcepts.evaluation._alpha_sweep import (
    alpha_sweep,
    alpha_sweep_markdown,
    alpha_sweep_table,
    sweep_fitted_split,
)
from jaxconcepts.evaluation._baseline import paired_baseline
from jaxconcepts.evaluation._naming import (
    ConceptName,
    name_accuracy,
    name_concepts,
    naming_table,
    top_patches,
)
from jaxconcepts.evaluation._ood import (
    PAPER_TABLE4,
    ConfidenceStudy,
    align_crops,
    confidence_study,
    crop_logits,
    max_softmax,
    ood_markdown,
    ood_metrics,
    ood_table,
)

__all__ = [
    "alpha_sweep",
    "alpha_sweep_markdown",
    "alpha_sweep_table",
    "sweep_fitted_split",
    "paired_baseline",
    "ConceptName",
    "name_accuracy",
    "name_concepts",
    "naming_table",
    "top_patches",
    "PAPER_TABLE4",
    "ConfidenceStudy",
    "align_crops",
    "confidence_study",
    "crop_logits",
    "max_softmax",
    "ood_markdown",
    "ood_metrics",
    "ood_table",
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
    "SplitRowsView",
    "Split",
    "k_caps",
    "load_image_rows",
    "split_by_image",
    "loss_csv",
    "markdown_report",
]
