"""The only place that imports torch/timm: model loading, extraction, the activation store.

``ActivationStore`` and its record types import no torch, so JAX stages can read a store
without paying torch's import; the torch-backed names load on first use.
"""

from jaxconcepts.features._store import FIELDS, ActivationStore, Batch, HeadParams, StoreWriter

_LAZY = {
    "load_model": "_models", "LoadedModel": "_models", "load_checkpoint": "_models",
    "map_efficientnet_lite0_keys": "_models", "CheckpointMismatchError": "_models",
    "embedded_weights_path": "_models",
    "extract": "_extract", "NonFiniteActivationError": "_extract", "make_transform": "_extract",
    "extract_crops": "_crops", "crop_boxes": "_crops",
    "list_images": "_images", "load_rgb": "_images", "ImageLoadError": "_images",
}

__all__ = ["ActivationStore", "Batch", "HeadParams", "StoreWriter", "FIELDS", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"jaxconcepts.features.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'jaxconcepts.features' has no attribute {name!r}")
