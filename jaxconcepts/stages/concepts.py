"""Stage ``concepts``: CGAP and CPHA concepts (Lambert et al. §3.2) for every image of the store.

Reads ``data/<ds>/activations``; writes ``data/<ds>/concepts/part-0000p-of-0000P.safetensors``,
one part per process (format in docs/ARCHITECTURE.md; metadata ``n_concepts``, ``n_sub_concepts``,
``seed``, ``methods``; read them as one with ``concepts.load_concepts``) and, from process 0 once
every part exists, a summary of the whole in ``reports/<ds>/concepts.json``. Each batch is split
over this process's devices. Params (section ``concepts``):

- ``seed``: run seed; image ``i`` uses ``fold_in(key(seed), i)``, so results do not depend on the
  batch size.
- ``n_concepts`` (N, paper: 5), ``n_sub_concepts`` (S, paper: 3; 0 disables), ``n_components``
  (CGAP's PCA dimensions, null = N - 1 as in the paper).
- ``n_init`` (k-means restarts; 1 = scikit-learn's ``n_init="auto"``), ``max_iter``, ``tol``.
- ``batch_size`` (images per compiled call; the last batch is padded, so one compilation serves
  the whole store) and ``group`` (images per ``vmap`` group inside a call).
- ``n_buckets``: CGAP's padded live-channel sizes (null = one per 512 channels): more run faster
  per image and compile longer (see ``concepts.cgap``).
- ``methods``: subset of ``[cgap, cpha]``.
- ``cpu_devices``: on a CPU, the JAX devices the batch is split over (``auto`` = one per core,
  null = one); see ``jaxconcepts.mesh.use_cpu_devices``.
"""

from __future__ import annotations

import dataclasses

from jaxconcepts._io import write_json
from jaxconcepts.stages._common import (
    REPORTS, dataset_dir, stage_config, stage_parser, write_disabled,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = stage_parser("CGAP/CPHA concepts of every image in the activation store").parse_args(
        argv
    )
    cfg = stage_config(args, "concepts")  # typed and checked by jaxconcepts._params
    if not cfg.enabled:
        write_disabled("concepts", args.dataset, dirs=[dataset_dir(args.dataset, "concepts")],
                       json_files=[REPORTS / args.dataset / "concepts.json"])
        return

    from jaxconcepts.mesh import use_cpu_devices

    use_cpu_devices(cfg.cpu_devices)  # before any JAX work in this process
    from jaxconcepts.runners import write_concepts
    from jaxconcepts.store import ActivationStore

    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    out = dataset_dir(args.dataset, "concepts")
    summary = write_concepts(store, cfg, out)
    if summary is None:  # not process 0: its part is written
        return
    params = dataclasses.asdict(cfg)
    summary["params"] = {k: params[k] for k in sorted(params)}
    write_json(REPORTS / args.dataset / "concepts.json", summary)
    print(f"concepts: {summary['n_images']} images -> {out}")


if __name__ == "__main__":
    main()
