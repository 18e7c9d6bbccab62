"""Stage ``concepts``: CGAP and CPHA concepts (Lambert et al. §3.2) for every image of the store.

Reads ``data/<ds>/activations``; writes ``data/<ds>/concepts/concepts.safetensors`` (format in
docs/ARCHITECTURE.md; metadata ``n_concepts``, ``n_sub_concepts``, ``seed``, ``methods``) and a
summary in ``reports/<ds>/concepts.json``. Params (section ``concepts``):

- ``seed``: run seed; image ``i`` uses ``fold_in(key(seed), i)``, so results do not depend on the
  batch size.
- ``n_concepts`` (N, paper: 5), ``n_sub_concepts`` (S, paper: 3; 0 disables), ``n_components``
  (CGAP's PCA dimensions, null = N - 1 as in the paper).
- ``n_init`` (k-means restarts; 1 = scikit-learn's ``n_init="auto"``), ``max_iter``, ``tol``.
- ``batch_size`` (images per compiled call; the last batch is padded, so one compilation serves
  the whole store) and ``group`` (images per ``vmap`` group inside a call).
- ``methods``: subset of ``[cgap, cpha]``.
"""

from __future__ import annotations

import dataclasses

from jaxconcepts._io import save_arrays, write_json
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = stage_parser("CGAP/CPHA concepts of every image in the activation store").parse_args(
        argv
    )
    cfg = dataclasses.asdict(stage_config(args, "concepts"))  # checked by jaxconcepts._params

    from jaxconcepts.concepts._run import METRIC_NAMES, run_concepts, summarise
    from jaxconcepts.features import ActivationStore

    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    arrays, timings = run_concepts(store, cfg)
    out = dataset_dir(args.dataset, "concepts") / "concepts.safetensors"
    keep = ["index"]
    for m in cfg["methods"]:
        keep += [f"{m}_{f}" for f in ("labels", "sub_labels", "n_concepts", "flags", "metrics")]
    meta = {
        "n_concepts": str(cfg["n_concepts"]),
        "n_sub_concepts": str(cfg["n_sub_concepts"]),
        "seed": str(cfg["seed"]),
        "methods": ",".join(cfg["methods"]),
        "metrics": ",".join(METRIC_NAMES),
    }
    save_arrays(out, {k: arrays[k] for k in keep}, metadata=meta)
    summary = summarise(arrays, cfg)
    summary["timings"] = timings
    summary["params"] = {k: cfg[k] for k in sorted(cfg)}
    write_json(REPORTS / args.dataset / "concepts.json", summary)
    print(f"concepts: {summary['n_images']} images -> {out}")


if __name__ == "__main__":
    main()
