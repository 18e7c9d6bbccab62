"""jaxconcepts: concepts hidden in image-classifier activations, batched in JAX.

Notation (the papers'): A = activations (C × H × W per image, or rows × C), W = dictionary,
U = codes (A ≈ U W), g = input → last feature map, h = feature map → logits.
"""

__version__ = "0.1.0"

from jaxconcepts.features import ActivationStore, Batch, HeadParams  # noqa: E402

__all__ = ["__version__", "ActivationStore", "Batch", "HeadParams"]
