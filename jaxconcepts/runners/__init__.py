"""The store-level runners: the work of a stage over a whole activation store, each taking its
typed params section (:mod:`jaxconcepts.params`), never a dict.

- :func:`run_concepts` / :func:`write_concepts`: CGAP and CPHA of every image (``concepts``);
- :func:`run_importance` / :func:`write_importance`: occlusion importance (Eq. 3) of every
  image's concepts (``importance``);
- :func:`run_c2mf` and :func:`split_seed_runs`: the C2MF paper's suite, fitted streamed from the
  store, and :func:`c2mf_outputs`: everything the ``c2mf`` stage writes around them (atlases,
  α sweep, codes);
- :func:`run_recovery`: every source scored against planted ground truth (``recovery``).

The stages are thin mains around these; the functions on arrays they call are public in
:mod:`jaxconcepts.concepts`, :mod:`jaxconcepts.importance`, :mod:`jaxconcepts.evaluation` and
:mod:`jaxconcepts.metrics`.

Names load on first use (PEP 562), so a stage loads only the runners it uses (and DVC reruns
it only when those change).
"""

from jaxconcepts._lazy import lazy_attributes as _lazy_attributes

_LAZY = {
    "C2MFFits": "_c2mf", "run_c2mf": "_c2mf", "split_seed_runs": "_c2mf", "store_head": "_c2mf",
    "C2MFOutputs": "_c2mf_outputs", "c2mf_outputs": "_c2mf_outputs",
    "run_concepts": "_concepts", "summarise": "_concepts", "write_concepts": "_concepts",
    "IMPORTANCE_METHODS": "_importance", "TARGETS": "_importance",
    "concept_sizes": "_importance", "importance_stats": "_importance",
    "load_concepts": "_importance", "load_importance": "_importance",
    "run_importance": "_importance", "safetensors_metadata": "_importance",
    "write_importance": "_importance",
    "SOURCES": "_recovery", "run_recovery": "_recovery",
}

__all__ = list(_LAZY)
__getattr__, __dir__ = _lazy_attributes(__name__, _LAZY, globals())
