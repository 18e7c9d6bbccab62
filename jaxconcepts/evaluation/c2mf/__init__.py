"""The C2MF paper's evaluation suite (§3.3, Tables 1–3, Figs. 2–4, App. E) of C2MF, CRAFT, PCA and
the SAEs (data only).

- :mod:`._metrics`: the suite's metrics as pure JAX functions of a fitted model and a GAP + linear
  head (insertion/deletion, concept similarity, reconstruction accuracy, train/test consistency);
- :mod:`._host_head`: the same metrics through any host (torch) head, with its gradient;
- :mod:`._fit_evaluate`: fitting each method (in memory or streamed) and evaluating a fitted model
  on a :class:`~jaxconcepts.evaluation.SplitRowsView`; the test-time controls and the ablation;
- :mod:`._sae_adapter`: the SAEs as dictionaries of the suite;
- :mod:`._planted`: atoms vs planted parts, recipes and Coverage@τ;
- :mod:`._split_seeds`: the headline numbers across split seeds;
- :mod:`._alpha_sweep`: the α sweep of the gate penalty;
- :mod:`._naming`: concepts named in the classifier's label space (App. E);
- :mod:`._atlas`: the concept atlas's data, reached by the ``c2mf`` stage through its module path
  (not imported here);
- :mod:`._stage_outputs`: the stage's loss CSV, its metrics when turned off, its printed lines.
"""

from jaxconcepts.evaluation.c2mf._alpha_sweep import alpha_sweep, sweep_fitted_split
from jaxconcepts.evaluation.c2mf._fit_evaluate import (
    SharedDictionary,
    ablation,
    cluster_pool,
    evaluate_model,
    fit_method,
)
from jaxconcepts.evaluation.c2mf._metrics import (
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
from jaxconcepts.evaluation.c2mf._naming import (
    ConceptName,
    name_accuracy,
    name_concepts,
    top_patches,
)
from jaxconcepts.evaluation.c2mf._planted import planted_scores
from jaxconcepts.evaluation.c2mf._split_seeds import seed_interval, seed_summary
from jaxconcepts.evaluation.c2mf._stage_outputs import loss_csv

__all__ = [
    "ClassMSE",
    "ConceptName",
    "InsertionDeletion",
    "SharedDictionary",
    "ablation",
    "alpha_sweep",
    "cluster_pool",
    "concept_similarity",
    "consistency",
    "evaluate_model",
    "fit_method",
    "insertion_deletion",
    "loss_csv",
    "model_insertion_deletion",
    "name_accuracy",
    "name_concepts",
    "per_class_accuracy",
    "planted_scores",
    "reconstructed_predictions",
    "reconstruction_accuracy",
    "seed_interval",
    "seed_summary",
    "sweep_fitted_split",
    "top_patches",
]
