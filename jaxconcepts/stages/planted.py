"""Stage ``prepare`` for the planted-concept dataset: generate images and their ground truth.

Reads the ``planted`` section of params.yaml (with the dataset's overrides) and writes

- ``data/<ds>/images/<class>/test_*.png``: the test split, the images the pipeline explains;
- ``data/<ds>/prepare/{train,val}/<class>/*.png``: the splits the ``train`` stage uses;
- ``data/<ds>/prepare/truth/``: ``truth.json`` (parts, recipes, per-image records) and
  ``{train,val,test}.npz`` (part maps, labels, present/defining parts).

See :mod:`jaxconcepts.datasets` for the generator and the exact layout.
"""

from __future__ import annotations

import time

from jaxconcepts.datasets import PlantedConfig, write_planted
from jaxconcepts.stages._common import dataset_dir, dataset_params, load_params, stage_parser

__all__ = ["config_from_params", "main"]

_CONFIG_KEYS = ("image_size", "n_classes", "radius", "p_distractor", "noise", "background_contrast")
_SIZE_KEYS = ("n_train", "n_val", "n_test")


def config_from_params(p: dict) -> tuple[PlantedConfig, dict]:
    """``planted:`` params → (generator config, ``{n_train, n_val, n_test, seed}``).

    Raises:
      ValueError: an unknown key (with the valid ones) or a bad value.
    """
    known = set(_CONFIG_KEYS) | set(_SIZE_KEYS) | {"seed"}
    unknown = sorted(set(p) - known)
    if unknown:
        raise ValueError(f"unknown planted params {unknown}; valid keys: {sorted(known)}")
    cfg = {k: p[k] for k in _CONFIG_KEYS if k in p}
    if "radius" in cfg:
        cfg["radius"] = tuple(float(r) for r in cfg["radius"])
    sizes = {k: int(p.get(k, d)) for k, d in zip(_SIZE_KEYS, (1600, 320, 320))}
    sizes["seed"] = int(p.get("seed", 0))
    return PlantedConfig(**cfg), sizes


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.set_defaults(dataset="planted")
    args = parser.parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    if "planted" not in params:
        raise ValueError(f"params file {args.params!r} has no 'planted' section")
    config, sizes = config_from_params(params["planted"] or {})
    t0 = time.perf_counter()
    meta = write_planted(
        dataset_dir(args.dataset, "images"), dataset_dir(args.dataset, "prepare"), config,
        n_train=sizes["n_train"], n_val=sizes["n_val"], n_test=sizes["n_test"], seed=sizes["seed"],
    )
    print(
        f"planted: {sum(meta['sizes'].values())} images ({meta['sizes']}), "
        f"{config.n_classes} classes, {len(meta['parts'])} parts in "
        f"{time.perf_counter() - t0:.1f} s → {dataset_dir(args.dataset)}"
    )


if __name__ == "__main__":
    main()
