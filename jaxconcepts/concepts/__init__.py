"""Concept extraction methods: CGAP and CPHA (Lambert et al.), batched, with sub-concepts; C2MF
and its CRAFT and PCA baselines, behind one interface (fit, transform, concepts)."""

from ._base import FLAG_ALL_ZERO, FLAG_FEW_CONCEPTS, Concepts, canonical_labels, image_keys
from ._cgap import cgap, cgap_batch
from ._cpha import cpha, cpha_batch, grid_weights
from ._c2mf import C2MF, c2mf_objective, default_c2mf_optimizer, fit_c2mf
from ._craft import (
    Craft,
    craft_activations,
    craft_importance,
    fit_craft,
    qmc_masks,
    random_crops,
    sobol_total_indices,
)
from ._pca_baseline import PCABaseline, fit_pca_baseline
from ._protocol import ConceptDecomposition, FitConcepts
from ._subconcepts import split_concepts

__all__ = [
    "Concepts",
    "FLAG_FEW_CONCEPTS",
    "FLAG_ALL_ZERO",
    "cgap",
    "cpha",
    "cgap_batch",
    "cpha_batch",
    "grid_weights",
    "split_concepts",
    "image_keys",
    "canonical_labels",
    "ConceptDecomposition",
    "FitConcepts",
    "C2MF",
    "fit_c2mf",
    "c2mf_objective",
    "default_c2mf_optimizer",
    "Craft",
    "fit_craft",
    "random_crops",
    "craft_activations",
    "qmc_masks",
    "sobol_total_indices",
    "craft_importance",
    "PCABaseline",
    "fit_pca_baseline",
]
