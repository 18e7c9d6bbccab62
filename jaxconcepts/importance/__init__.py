"""Concept importance by occlusion (§3.3 of Lambert et al., Eq. 3), batched in JAX."""

from jaxconcepts.importance._occlusion import (
    DEFAULT_MIN_P,
    HostHead,
    ImportanceResult,
    LinearHead,
    concept_importance,
    importance_from_log_probs,
    importance_from_probs,
    masked_logits,
    occlusion_masks,
)

__all__ = [
    "DEFAULT_MIN_P",
    "HostHead",
    "ImportanceResult",
    "LinearHead",
    "concept_importance",
    "importance_from_log_probs",
    "importance_from_probs",
    "masked_logits",
    "occlusion_masks",
]
