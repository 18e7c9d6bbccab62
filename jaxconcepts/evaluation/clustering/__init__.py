"""Lambert et al.'s clustering concepts (CGAP, CPHA) evaluated: recovery of planted parts and the
fair random baseline (data only).

- :mod:`._recovery`: per-image recovery scores of concept maps against the planted parts (pointing
  game, IoU, AUROC) and importance against the recipe; the random channel grouping;
- :mod:`._baseline`: the paired random-grouping baseline over seeds, and the size-only reference;
- :mod:`._compare`: Tables 1–2 and Fig. 2's records (clustering algorithms compared), reached by
  the ``compare`` stage through its module path (not imported here, so the other stages do not
  load it).
"""

from jaxconcepts.evaluation.clustering._baseline import paired_baseline, size_auroc
from jaxconcepts.evaluation.clustering._recovery import (
    RecoveryScores,
    auroc_pixels,
    finite_mean,
    random_grouping,
    score_maps,
    summarise,
)

__all__ = [
    "RecoveryScores",
    "auroc_pixels",
    "finite_mean",
    "paired_baseline",
    "random_grouping",
    "score_maps",
    "size_auroc",
    "summarise",
]
