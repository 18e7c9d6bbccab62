"""Concept extraction methods: CGAP and CPHA (Lambert et al.), batched, with sub-concepts; C2MF
and its CRAFT and PCA baselines, behind one interface (fit, transform, concepts); concept maps."""

from jaxconcepts._parts import load_concepts

from ._base import FLAG_ALL_ZERO, FLAG_FEW_CONCEPTS, Concepts, canonical_labels, image_keys
from ._cgap import bucket_sizes, cgap, cgap_batch, default_n_buckets
from ._cpha import cpha, cpha_batch, grid_weights
from ._c2mf import (C2MF, c2mf_objective, fit_c2mf, init_dictionary, normalise_rows,
                    row_norm_quantile)
from ._controls import (other_class_gates, random_dictionary, uniform_gates, with_gates,
                        without_class_mean)
from ._craft import Craft, fit_craft
from ._maps import ConceptMaps, concept_maps, group_maps, sub_concept_maps, upsample_maps
from ._phases import Phase, cgap_phases, cpha_phases, run_phases
from ._pca_baseline import PCABaseline, fit_pca_baseline
from ._protocol import ConceptDecomposition, check_rows_and_labels
from ._subconcepts import split_concepts

__all__ = [
    "Concepts",
    "FLAG_FEW_CONCEPTS",
    "FLAG_ALL_ZERO",
    "cgap",
    "cpha",
    "cgap_batch",
    "bucket_sizes",
    "default_n_buckets",
    "Phase",
    "cgap_phases",
    "cpha_phases",
    "run_phases",
    "cpha_batch",
    "grid_weights",
    "split_concepts",
    "image_keys",
    "canonical_labels",
    "ConceptDecomposition",
    "C2MF",
    "fit_c2mf",
    "c2mf_objective",
    "init_dictionary",
    "normalise_rows",
    "row_norm_quantile",
    "check_rows_and_labels",
    "Craft",
    "fit_craft",
    "PCABaseline",
    "fit_pca_baseline",
    "without_class_mean",
    "with_gates",
    "uniform_gates",
    "other_class_gates",
    "random_dictionary",
    "ConceptMaps",
    "concept_maps",
    "sub_concept_maps",
    "group_maps",
    "upsample_maps",
    "load_concepts",
]
