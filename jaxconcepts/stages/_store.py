"""The dataset's activation store as the stages that read its images open it."""

from __future__ import annotations

import argparse

from jaxconcepts.stages._common import dataset_dir, stage_config

__all__ = ["open_store"]


def open_store(args: argparse.Namespace):
    """The dataset's activation store, its images resolved against ``extract.image_root`` (the
    folder ``extract`` read them from) or, when that is null, ``data/<dataset>/images``."""
    from jaxconcepts.store import ActivationStore

    ext = stage_config(args, "extract")
    return ActivationStore(dataset_dir(args.dataset, "activations"),
                           image_root=ext.image_root or dataset_dir(args.dataset, "images"))
