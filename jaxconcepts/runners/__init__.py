"""The store-level runners: the work of a stage over a whole activation store, each taking its
typed params section (:mod:`jaxconcepts.params`), never a dict.

- :func:`run_concepts` / :func:`write_concepts`: CGAP and CPHA of every image (``concepts``);
- :func:`run_importance` / :func:`write_importance`: occlusion importance (Eq. 3) of every
  image's concepts (``importance``);
- :func:`run_c2mf` and :func:`split_seed_runs`: the C2MF paper's suite, fitted streamed from the
  store (``c2mf``);
- :func:`run_recovery`: every source scored against planted ground truth (``recovery``).

The stages are thin mains around these; the functions on arrays they call are public in
:mod:`jaxconcepts.concepts`, :mod:`jaxconcepts.importance`, :mod:`jaxconcepts.evaluation` and
:mod:`jaxconcepts.metrics`.
"""

from jaxconcepts.runners._c2mf import C2MFFits, run_c2mf, split_seed_runs, store_head
from jaxconcepts.runners._concepts import run_concepts, summarise, write_concepts
from jaxconcepts.runners._importance import (
    IMPORTANCE_METHODS,
    TARGETS,
    concept_sizes,
    importance_stats,
    load_concepts,
    load_importance,
    run_importance,
    safetensors_metadata,
    write_importance,
)
from jaxconcepts.runners._recovery import SOURCES, run_recovery

__all__ = ["C2MFFits", "run_c2mf", "split_seed_runs", "store_head", "run_concepts", "summarise",
           "write_concepts", "IMPORTANCE_METHODS", "TARGETS", "concept_sizes", "importance_stats",
           "load_concepts", "load_importance", "run_importance", "safetensors_metadata",
           "write_importance", "SOURCES", "run_recovery"]
