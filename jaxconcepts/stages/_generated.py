"""The ``prepare`` stage's generated datasets: their params sections into the writers of
:mod:`jaxconcepts.datasets` (planted parts, pasted objects)."""

from __future__ import annotations

import time

from jaxconcepts.stages._common import dataset_dir, stage_config

__all__ = ["write_planted_dataset", "write_objects_dataset"]


def write_planted_dataset(args) -> None:
    """``prepare.source: planted``: the params section ``planted`` → the generated dataset."""
    from jaxconcepts.datasets import PlantedConfig, write_planted

    p = stage_config(args, "planted")
    config = PlantedConfig(
        image_size=p.image_size, n_classes=p.n_classes, radius=tuple(p.radius),
        p_distractor=p.p_distractor, noise=p.noise, background_contrast=p.background_contrast,
    )
    t0 = time.perf_counter()
    meta = write_planted(
        dataset_dir(args.dataset, "images"), dataset_dir(args.dataset, "prepare"), config,
        n_train=p.n_train, n_val=p.n_val, n_test=p.n_test, seed=p.seed,
    )
    print(
        f"planted: {sum(meta['sizes'].values())} images ({meta['sizes']}), "
        f"{config.n_classes} classes, {len(meta['parts'])} parts in "
        f"{time.perf_counter() - t0:.1f} s → {dataset_dir(args.dataset)}"
    )


def write_objects_dataset(args) -> None:
    """``prepare.source: objects``: params section ``objects`` → the pasted-objects benchmark."""
    from jaxconcepts.datasets import ObjectsConfig, write_objects

    p = stage_config(args, "objects")
    config = ObjectsConfig(image_size=p.image_size,
                           classes=tuple(p.classes) if p.classes else None,
                           scale=tuple(p.scale), n_test=p.n_test)
    t0 = time.perf_counter()
    meta = write_objects(dataset_dir(args.dataset, "images"), dataset_dir(args.dataset, "prepare"),
                         config, seed=p.seed)
    print(f"objects: {sum(meta['sizes'].values())} images, {len(meta['classes'])} classes "
          f"({', '.join(meta['classes'])}) in {time.perf_counter() - t0:.1f} s "
          f"→ {dataset_dir(args.dataset)}")
