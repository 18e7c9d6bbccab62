"""Evaluation of extracted concepts: the papers' suites as library code, by paper.

- :mod:`.clustering` — Lambert et al.'s CGAP / CPHA: recovery of planted ground-truth parts
  (concept maps vs part masks, importance vs recipe), the paired random baseline of the recovery
  table (the runner: :func:`jaxconcepts.runners.run_recovery`), Tables 1–2 and Fig. 2's records
  (clustering algorithms compared).
- :mod:`.c2mf` — the C2MF paper's suite: insertion/deletion in concept space (Grad-CAM / IG
  ranking on codes), concept similarity, per-class reconstruction accuracy, train/test
  consistency, the controls and the ablation, atoms vs planted parts, App. E (concept naming), the
  concept atlas's data, the α sweep, the split seeds (the whole run over a store is
  :func:`jaxconcepts.runners.run_c2mf`).
- :mod:`.ood` — C2MF App. B–C: confidence of images vs crops, OOD metrics.
- Shared by several papers, here: the image split of a store's rows (``_image_split``:
  :class:`SplitRowsView`), bootstrap intervals and verdicts (``_intervals``), matching store
  images to planted truth (``_truth``), Coverage@τ (``_localisation``), the methods' scoreboard on
  image grounds (``_grounds``) and the objects benchmark's recognition (``_recognition``).

Data only: the Markdown pages of these results are :mod:`jaxconcepts.report`'s (the stages call
it); nothing here imports it.
"""

from jaxconcepts.evaluation._image_split import (
    ImageRows,
    Split,
    SplitRowsView,
    k_caps,
    load_image_rows,
    split_by_image,
)
from jaxconcepts.evaluation._truth import match_rows, scoring_masks
from jaxconcepts.evaluation.c2mf import (
    ClassMSE,
    ConceptName,
    InsertionDeletion,
    SharedDictionary,
    ablation,
    alpha_sweep,
    cluster_pool,
    concept_similarity,
    consistency,
    evaluate_model,
    fit_method,
    insertion_deletion,
    loss_csv,
    model_insertion_deletion,
    name_accuracy,
    name_concepts,
    per_class_accuracy,
    planted_scores,
    reconstructed_predictions,
    reconstruction_accuracy,
    seed_interval,
    seed_summary,
    sweep_fitted_split,
    top_patches,
)
from jaxconcepts.evaluation.clustering import (
    RecoveryScores,
    auroc_pixels,
    finite_mean,
    paired_baseline,
    random_grouping,
    score_maps,
    size_auroc,
    summarise,
)
from jaxconcepts.evaluation.ood import (
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
