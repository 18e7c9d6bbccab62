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

__version__ = "0.1.0"

_LAZY = {
    "ActivationStore": "jaxconcepts.store",
    "Batch": "jaxconcepts.store",
    "HeadParams": "jaxconcepts.heads",
    "Concepts": "jaxconcepts.concepts",
    "cgap": "jaxconcepts.concepts",
    "cpha": "jaxconcepts.concepts",
    "C2MF": "jaxconcepts.concepts",
    "fit_c2mf": "jaxconcepts.concepts",
    "fit_craft": "jaxconcepts.concepts",
    "fit_pca_baseline": "jaxconcepts.concepts",
    "concept_importance": "jaxconcepts.importance",
    "concept_maps": "jaxconcepts.viz",
    "sub_concept_maps": "jaxconcepts.viz",
    "tune_malloc": "jaxconcepts._malloc",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'jaxconcepts' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
