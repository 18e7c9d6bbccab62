"""Stage ``crops``: CRAFT's patch activations, g(random crop) averaged over space, per image.

Reads the activation store (its manifest rebuilds the model and g at the extracted layer) and
writes ``data/<ds>/crops/crops.safetensors``: ``crops`` (N, n_crops, C), ``index`` (N,), ``boxes``.
Params (section ``crops``): ``n_crops``, ``crop_fraction`` (side relative to the input's shorter
side), ``batch_size``; the seed is the top-level ``seed``. Only the CRAFT baseline of the ``c2mf``
stage reads it.
"""

from __future__ import annotations

import time

from jaxconcepts.stages._common import dataset_dir, dataset_params, load_params, stage_parser

_KEYS = {"n_crops", "crop_fraction", "batch_size"}


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    cfg = params["crops"]
    unknown, missing = sorted(set(cfg) - _KEYS), sorted(_KEYS - set(cfg))
    if unknown or missing:
        raise ValueError(f"crops params: unknown keys {unknown}, missing keys {missing}; "
                         f"valid keys: {sorted(_KEYS)}")
    p = params["extract"]
    import torch

    from jaxconcepts.features import ActivationStore, load_model_from_store
    from jaxconcepts.features._crops import extract_crops

    if p.get("threads"):
        torch.set_num_threads(int(p["threads"]))
    store = ActivationStore(dataset_dir(args.dataset, "activations"),
                            image_root=p.get("image_root") or dataset_dir(args.dataset, "images"))
    lm = load_model_from_store(store)
    t0 = time.perf_counter()
    meta = extract_crops(lm, store, dataset_dir(args.dataset, "crops") / "crops.safetensors",
                         n_crops=int(cfg["n_crops"]), crop_fraction=float(cfg["crop_fraction"]),
                         seed=int(params["seed"]), batch_size=int(cfg["batch_size"]))
    dt = time.perf_counter() - t0
    n = meta["n_images"] * meta["n_crops"]
    print(f"crops: {meta['n_images']} images × {meta['n_crops']} crops → {meta['channels']} "
          f"channels in {dt:.1f} s ({n / dt:.1f} crops/s)")


if __name__ == "__main__":
    main()
