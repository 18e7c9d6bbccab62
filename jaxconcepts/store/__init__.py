"""The activation store, read and written without torch: what every stage after extraction uses.

- ``_activations.py``: the store itself (safetensors shards + ``manifest.json``, read back as JAX
  arrays): ``ActivationStore``, ``StoreWriter``, ``Batch``, the stored head ``HeadParams``,
  ``FIELDS``, ``STORE_DTYPES``, the shard reader and writer (``read_shard``, ``write_shard``);
- ``_rows.py``: the *rows* view the dataset-level fits stream (``RowsView``, ``RowBatch``);
- ``_crop_store.py``: CRAFT's crop rows in the layout of a store (``CropStoreWriter``,
  ``write_crop_store``, ``read_crop_store``, ``read_crop_boxes``, ``CROP_FIELDS``);
- ``_labels.py``: the names of a head's outputs and of a store's classes (``LabelSpace``,
  ``label_space``, ``head_label_space``, ``labels_are_head_outputs``, ``label_indices``, the
  ImageNet-1k synsets, lemmas and glosses read from timm's data files without importing timm).

Nothing here imports torch, timm or torchvision: extraction (``jaxconcepts.features``) writes the
store, and the JAX stages read it without paying torch's import. Each name is imported on first
use (PEP 562), so a stage loads only the modules it uses.
"""

from jaxconcepts._lazy import lazy_attributes as _lazy_attributes

_LAZY = {
    "ActivationStore": "_activations", "StoreWriter": "_activations", "Batch": "_activations",
    "HeadParams": "_activations", "FIELDS": "_activations", "STORE_DTYPES": "_activations",
    "read_shard": "_activations", "write_shard": "_activations",
    "RowBatch": "_rows", "RowsView": "_rows",
    "CROP_FIELDS": "_crop_store", "CropStoreWriter": "_crop_store",
    "write_crop_store": "_crop_store", "read_crop_store": "_crop_store",
    "read_crop_boxes": "_crop_store",
    "LabelSpace": "_labels", "label_space": "_labels", "head_label_space": "_labels",
    "labels_are_head_outputs": "_labels", "label_indices": "_labels",
    "imagenet_synsets": "_labels", "imagenet_lemmas": "_labels",
    "imagenet_definitions": "_labels", "imagenet_descriptions": "_labels",
}

__all__ = list(_LAZY)
__getattr__, __dir__ = _lazy_attributes(__name__, _LAZY, globals())
