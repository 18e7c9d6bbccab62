"""Stage ``crops``: CRAFT's patch activations, g(random crop) averaged over space, per image.

Reads the activation store (for the image list and the model settings of ``extract``) and writes
``data/<ds>/crops/crops.safetensors``: ``crops`` (N, n_crops, C), ``index`` (N,), ``boxes``.
Params (section ``crops``): ``n_crops``, ``crop_fraction`` (side relative to the input's shorter
side), ``batch_size``; the seed is the top-level ``seed``. Only the CRAFT baseline of the ``c2mf``
stage reads it.
"""

from __future__ import annotations

import time

from jaxconcepts.stages._common import dataset_dir, dataset_params, load_params, stage_parser

DEFAULTS = {"n_crops": 8, "crop_fraction": 0.5, "batch_size": 64}


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    cfg = {**DEFAULTS, **(params.get("crops") or {})}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown crops params {unknown}; valid keys: {sorted(DEFAULTS)}")
    p = params["extract"]
    import torch

    from jaxconcepts.features import ActivationStore
    from jaxconcepts.features._crops import extract_crops
    from jaxconcepts.features._models import load_model

    torch.set_num_threads(int(p.get("threads") or torch.get_num_threads()))
    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    lm = load_model(p["model"], weights=p.get("weights", "embedded"),
                    image_size=p.get("image_size"), **(p.get("model_kwargs") or {}))
    t0 = time.perf_counter()
    meta = extract_crops(lm, store, dataset_dir(args.dataset, "crops") / "crops.safetensors",
                         n_crops=int(cfg["n_crops"]), crop_fraction=float(cfg["crop_fraction"]),
                         seed=int(params.get("seed", 0)), batch_size=int(cfg["batch_size"]))
    dt = time.perf_counter() - t0
    n = meta["n_images"] * meta["n_crops"]
    print(f"crops: {meta['n_images']} images × {meta['n_crops']} crops → {meta['channels']} "
          f"channels in {dt:.1f} s ({n / dt:.1f} crops/s)")


if __name__ == "__main__":
    main()
