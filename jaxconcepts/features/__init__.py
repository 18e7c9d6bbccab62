"""The only place that imports torch/timm: model loading, heads, extraction, crops, training, CLIP.

Every name loads on first use, so importing the package pays for no torch. The activation store
these write (and every later stage reads) is torch-free and lives in :mod:`jaxconcepts.store`.

One model loader serves every stage: ``load_model_from_params(params["extract"], seed=...)``
builds the model an extraction will use, ``load_model_from_store(store)`` rebuilds the one a
store was made with (g and h at the recorded layer, weights checked by sha256).

Extraction's steps, each public so a benchmark times the same code: reading an image
(``apply_exif_orientation``, ``to_rgb``), the split preprocessing (``split_transform``: pixel ops
in the loaders, then ``normalize_uint8`` / ``normalize_batch``), batching (``collate``), the
forward (``forward_batch``, under ``AUTOCAST_DTYPES``) and the store's arrays (``batch_rows``).
"""

_LAZY = {
    "load_model": "_models", "LoadedModel": "_models", "load_checkpoint": "_models",
    "load_model_from_params": "_models", "load_model_from_store": "_models",
    "map_efficientnet_lite0_keys": "_embedded", "CheckpointMismatchError": "_embedded",
    "embedded_weights_path": "_embedded",
    "extract": "_extract", "NonFiniteActivationError": "_extract", "process_split": "_extract",
    "forward_batch": "_extract", "batch_rows": "_extract", "AUTOCAST_DTYPES": "_extract",
    "make_transform": "_preprocess", "split_transform": "_preprocess",
    "normalize_batch": "_preprocess", "normalize_uint8": "_preprocess",
    "collate": "_loader", "LOADER_NICE": "_loader", "second_openmp_team": "_loader",
    "set_loader_nice": "_loader",
    "Trunk": "_heads", "Rest": "_heads", "torch_head_with_grad": "_heads", "host_fns": "_heads",
    "extract_crops": "_crops", "crop_boxes": "_crops",
    "list_images": "_images", "load_rgb": "_images", "load_image": "_images",
    "ImageLoadError": "_images", "apply_exif_orientation": "_images", "to_rgb": "_images",
    "fit_classifier": "_train", "train_classifier": "_train", "load_split": "_train",
    "save_model": "_train",
}

__all__ = ["torch_head", "set_threads", *_LAZY]


def set_threads(n: int | None) -> None:
    """torch's intra-op threads (``extract.threads``); None leaves torch's default."""
    if n:
        import torch

        torch.set_num_threads(int(n))


def torch_head(store):
    """The store's own torch h (any layer) as a numpy host function; imports torch only when
    called (see ``features._heads.torch_head``)."""
    from jaxconcepts.features._heads import torch_head as _torch_head

    return _torch_head(store)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"jaxconcepts.features.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'jaxconcepts.features' has no attribute {name!r}")
