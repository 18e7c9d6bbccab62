"""Stage ``crops``: CRAFT's patch activations, g(random crop) averaged over space, per image.

Reads the activation store (its manifest rebuilds the model and g at the extracted layer) and
writes the crop store ``data/<ds>/crops/`` (``features._crops``: shards of ``activations
(B, C, n_crops, 1)``, the images' ``index``/``pred``/``target``/``label`` and ``boxes``), which
streams like an activation store. Params (section ``crops``): ``n_crops``, ``crop_fraction`` (side
relative to the input's shorter side), ``batch_size``, ``enabled`` (false: ``data/<ds>/crops/``
holds only ``DISABLED.txt``; the params check refuses it while ``ood`` or CRAFT on crops is on);
the seed is the top-level ``seed``. The CRAFT baseline of the ``c2mf`` stage and the ``ood`` study
read it.
"""

from __future__ import annotations

import shutil
import time

from jaxconcepts.stages._common import dataset_dir, stage_config, stage_parser, write_disabled
from jaxconcepts.stages._store import open_store


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg, p, seed = stage_config(args, "crops", "extract", "seed")
    if not cfg.enabled:
        shutil.rmtree(dataset_dir(args.dataset, "crops"), ignore_errors=True)  # no stale crops
        print(f"crops ({args.dataset}): "
              + write_disabled("crops", args.dataset, dirs=[dataset_dir(args.dataset, "crops")]))
        return

    from jaxconcepts.features import load_model_from_store, set_threads
    from jaxconcepts.features._crops import extract_crops

    set_threads(p.threads)
    store = open_store(args)
    lm = load_model_from_store(store)
    t0 = time.perf_counter()
    meta = extract_crops(lm, store, dataset_dir(args.dataset, "crops"),
                         n_crops=cfg.n_crops, crop_fraction=cfg.crop_fraction, seed=int(seed),
                         batch_size=cfg.batch_size)
    dt = time.perf_counter() - t0
    n = meta["n_images"] * meta["n_crops"]
    print(f"crops: {meta['n_images']} images × {meta['n_crops']} crops → {meta['channels']} "
          f"channels in {dt:.1f} s ({n / dt:.1f} crops/s)")


if __name__ == "__main__":
    main()
