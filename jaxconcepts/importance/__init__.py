"""Every way of ranking concepts: occlusion (Eq. 3 of Lambert et al.), Grad-CAM / Integrated
Gradients on C2MF codes, and CRAFT's Sobol total indices; plus the importance stage's run.

The heads they take are :mod:`jaxconcepts.heads`' (``HeadParams``, ``HostHead``, a JAX
callable)."""

from jaxconcepts._parts import load_importance
from jaxconcepts.importance._files import concept_sizes, safetensors_metadata
from jaxconcepts.importance._gradients import (
    Recon,
    code_importance,
    ig_alphas,
    importance_from_grads,
)
from jaxconcepts.importance._occlusion import (
    DEFAULT_MIN_P,
    ImportanceResult,
    concept_importance,
    importance_from_log_probs,
    importance_from_probs,
    masked_logits,
    occlusion_masks,
)
from jaxconcepts.importance._sobol import (
    class_logit_importance,
    craft_importance,
    qmc_masks,
    sobol_total_indices,
)

__all__ = [
    "DEFAULT_MIN_P",
    "concept_sizes",
    "load_importance",
    "safetensors_metadata",
    "ImportanceResult",
    "concept_importance",
    "importance_from_log_probs",
    "importance_from_probs",
    "masked_logits",
    "occlusion_masks",
    "Recon",
    "code_importance",
    "ig_alphas",
    "importance_from_grads",
    "qmc_masks",
    "sobol_total_indices",
    "craft_importance",
    "class_logit_importance",
]
