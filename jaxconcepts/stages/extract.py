"""Stage ``extract``: run g over ``data/<ds>/images`` once and write the activation store.

Resumable: shards are committed to ``data/<ds>/activations.partial`` (or ``extract.checkpoint``)
as they finish, so rerunning after a crash (or ``dvc repro`` after one) continues from the last
complete shard. Run several copies under a launcher (``srun``, ``torchrun``, or with
``JAX_PROCESS_ID``/``JAX_NUM_PROCESSES`` set) to split the images; the last one to finish merges.
"""

from __future__ import annotations

import time

from dataclasses import asdict

from jaxconcepts.stages._common import dataset_dir, stage_config, stage_parser


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg, seed = stage_config(args, "extract", "seed")
    p = asdict(cfg)
    from jaxconcepts.features import extract, load_model_from_params, set_threads

    set_threads(p["threads"])
    lm = load_model_from_params(p, seed=int(seed))
    t0, timings = time.perf_counter(), {}
    manifest = extract(
        lm, p["image_root"] or dataset_dir(args.dataset, "images"),
        dataset_dir(args.dataset, "activations"), batch_size=int(p["batch_size"]),
        shard_size=int(p["shard_size"]), use_label_as_target=bool(p["use_label_as_target"]),
        dtype=p["dtype"], workers=int(p["workers"]), prefetch=int(p["prefetch"]),
        device=p["device"], autocast=p["autocast"], resize=p["resize"],
        jpeg_draft=p["jpeg_draft"], checkpoint=p["checkpoint"], timings=timings,
    )
    dt = time.perf_counter() - t0
    print("extract: seconds in " + ", ".join(
        f"{k} {timings[k]:.1f}" for k in ("forward", "wait_for_input", "normalize",
                                          "wait_for_writer", "merge") if k in timings))
    if manifest is None:
        print(f"extract: this process's shards are done in {dt:.1f} s; the last process merges")
        return
    print(
        f"extract: {manifest['n_images']} images → {manifest['shape']} maps at "
        f"{manifest['layer']} in {dt:.1f} s ({manifest['n_images'] / dt:.1f} img/s); "
        f"skipped {len(manifest['skipped'])}"
    )


if __name__ == "__main__":
    main()
