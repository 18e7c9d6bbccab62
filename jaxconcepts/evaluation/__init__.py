"""Evaluation of extracted concepts: the papers' suites as library code.

- Recovery of planted ground-truth parts (concept maps vs part masks, importance vs recipe), the
  scores of the recovery stage's runner (:func:`jaxconcepts.runners.run_recovery`).
- The C2MF paper's suite: insertion/deletion in concept space (Grad-CAM / IG ranking on codes),
  concept similarity, per-class reconstruction accuracy, train/test consistency; the rows view
  (the whole run over a store is :func:`jaxconcepts.runners.run_c2mf`).
- Lambert et al.'s Tables 1–2 and Fig. 2's records (clustering algorithms compared).
- C2MF App. B–C (confidence of images vs crops, OOD metrics), App. E (concept naming), the concept
  atlas's data, the α sweep, and the paired random baseline of the recovery table.

Data only: the Markdown pages of these results are :mod:`jaxconcepts.report`'s (the stages call
it); nothing here imports it.
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
from jaxconcepts.evaluation._c2mf_report import loss_csv
from jaxconcepts.evaluation._c2mf_seeds import seed_interval, seed_summary
from jaxconcepts.evaluation._c2mf_suite import (
    SharedDictionary,
    ablation,
    cluster_pool,
    evaluate_model,
    fit_method,
)
from jaxconcepts.evaluation._recovery import (
    RecoveryScores,
    finite_mean,
    auroc_pixels,
    random_grouping,
    score_maps,
    summarise,
)
from jaxconcepts.evaluation._recovery_suite import (
    match_rows,
    planted_scores,
    scoring_masks,
    size_auroc,
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
    sweep_fitted_split,
)
from jaxconcepts.evaluation._baseline import paired_baseline
from jaxconcepts.evaluation._naming import (
    ConceptName,
    name_accuracy,
    name_concepts,
    top_patches,
)
from jaxconcepts.evaluation._ood import (
    ConfidenceStudy,
    align_crops,
    confidence_study,
    crop_logits,
    max_softmax,
    ood_metrics,
)

__all__ = [
    "alpha_sweep",
    "sweep_fitted_split",
    "paired_baseline",
    "ConceptName",
    "name_accuracy",
    "name_concepts",
    "top_patches",
    "ConfidenceStudy",
    "align_crops",
    "confidence_study",
    "crop_logits",
    "max_softmax",
    "ood_metrics",
    "RecoveryScores",
    "auroc_pixels",
    "random_grouping",
    "score_maps",
    "summarise",
    "match_rows",
    "planted_scores",
    "finite_mean",
    "scoring_masks",
    "size_auroc",
    "InsertionDeletion",
    "insertion_deletion",
    "model_insertion_deletion",
    "reconstructed_predictions",
    "per_class_accuracy",
    "ClassMSE",
    "concept_similarity",
    "reconstruction_accuracy",
    "consistency",
    "seed_interval",
    "seed_summary",
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
]
