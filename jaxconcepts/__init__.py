"""jaxconcepts: concepts hidden in image-classifier activations, batched in JAX.

Notation (the papers'): A = activations (C × H × W per image, or rows × C), W = dictionary,
U = codes (A ≈ U W), g = input → last feature map, h = feature map → logits.

The public API, in the order data flows: the activation store (``ActivationStore``, in the
torch-free :mod:`jaxconcepts.store`; model loading and extraction live in
:mod:`jaxconcepts.features`), concept extraction (``cgap``,
``cpha``, ``fit_c2mf`` and the baselines), importance (``concept_importance``), concept maps
(``concept_maps``, ``sub_concept_maps``). Kernels are in :mod:`jaxconcepts.kernels`.

Importing the package loads nothing else: each public name is imported on first use (PEP 562),
so ``import jaxconcepts`` neither pays for JAX, torch or matplotlib nor changes any of their
settings, and a DVC stage loads only the modules it uses (the deps test checks them).
"""

from jaxconcepts._lazy import lazy_attributes as _lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "ActivationStore": "store",
    "Batch": "store",
    "HeadParams": "heads",
    "Concepts": "concepts",
    "cgap": "concepts",
    "cpha": "concepts",
    "C2MF": "concepts",
    "fit_c2mf": "concepts",
    "fit_craft": "concepts",
    "fit_pca_baseline": "concepts",
    "concept_importance": "importance",
    "concept_maps": "viz",
    "sub_concept_maps": "viz",
    "tune_malloc": "_malloc",
}

__all__ = ["__version__", *_LAZY]
__getattr__, __dir__ = _lazy_attributes(__name__, _LAZY, globals())
