"""Stage ``extract``: run g over ``data/<ds>/images`` once and write the activation store."""

from __future__ import annotations

import time

from jaxconcepts.features._extract import extract
from jaxconcepts.features._models import load_model
from jaxconcepts.stages._common import dataset_dir, dataset_params, load_params, stage_parser


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    p = params["extract"]
    import torch

    torch.manual_seed(int(params.get("seed", 0)))
    torch.set_num_threads(int(p.get("threads") or torch.get_num_threads()))
    lm = load_model(
        p["model"], weights=p.get("weights", "embedded"), image_size=p.get("image_size"),
        **(p.get("model_kwargs") or {}),
    )
    t0 = time.perf_counter()
    manifest = extract(
        lm, p.get("image_root") or dataset_dir(args.dataset, "images"),
        dataset_dir(args.dataset, "activations"), batch_size=int(p.get("batch_size", 16)),
        shard_size=int(p.get("shard_size", 256)),
        use_label_as_target=bool(p.get("use_label_as_target", False)),
    )
    dt = time.perf_counter() - t0
    print(
        f"extract: {manifest['n_images']} images → {manifest['shape']} maps in {dt:.1f} s "
        f"({manifest['n_images'] / dt:.1f} img/s); skipped {len(manifest['skipped'])}"
    )


if __name__ == "__main__":
    main()
