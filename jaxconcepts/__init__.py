"""jaxconcepts: concepts hidden in image-classifier activations, batched in JAX.

Notation (the papers'): A = activations (C × H × W per image, or rows × C), W = dictionary,
U = codes (A ≈ U W), g = input → last feature map, h = feature map → logits.

The public API, in the order data flows: the activation store (``ActivationStore``; model
loading and extraction live in :mod:`jaxconcepts.features`), concept extraction (``cgap``,
``cpha``, ``fit_c2mf`` and the baselines), importance (``concept_importance``), concept maps
(``concept_maps``, ``sub_concept_maps``). Kernels are in :mod:`jaxconcepts.kernels`.
"""

__version__ = "0.1.0"

from jaxconcepts.concepts import (  # noqa: E402
    C2MF,
    Concepts,
    cgap,
    cpha,
    fit_c2mf,
    fit_craft,
    fit_pca_baseline,
)
from jaxconcepts.features import ActivationStore, Batch, HeadParams  # noqa: E402
from jaxconcepts.importance import concept_importance  # noqa: E402
from jaxconcepts.viz import concept_maps, sub_concept_maps  # noqa: E402

__all__ = [
    "__version__",
    "ActivationStore",
    "Batch",
    "HeadParams",
    "Concepts",
    "cgap",
    "cpha",
    "C2MF",
    "fit_c2mf",
    "fit_craft",
    "fit_pca_baseline",
    "concept_importance",
    "concept_maps",
    "sub_concept_maps",
]
