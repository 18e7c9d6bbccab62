"""Concept maps for drawing: the math lives in :mod:`jaxconcepts.concepts._maps` (pure JAX, shared
with the recovery scores); ``viz`` re-exports it so figures and notebooks import one name."""

from jaxconcepts.concepts._maps import ConceptMaps, concept_maps, sub_concept_maps

__all__ = ["ConceptMaps", "concept_maps", "sub_concept_maps"]
