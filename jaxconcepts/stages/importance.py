"""Stage ``importance``: occlusion importance (Eq. 3) of every concept and sub-concept.

Reads the activation store and ``data/<ds>/concepts`` (its parts as one); writes one part per
process, ``data/<ds>/importance/part-0000p-of-0000P.safetensors`` (format in docs/ARCHITECTURE.md),
and, from process 0 once every part exists, a summary in ``reports/<ds>/importance.json``.
Params (section ``importance``):

- ``target``: ``pred`` (the model's predicted class) or ``label`` (the image's label when
  it has one that is a model class, else the prediction).
- ``batch_size``: images per jitted call.
- ``min_p``: p_t below this gives importance 0 (see ``jaxconcepts.importance``); null = float32 eps.
- ``methods``: subset of cgap, cpha.
- ``head``: ``auto`` (closed form when the store holds a GAP + linear head, else the torch head),
  ``closed_form`` or ``torch``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from jaxconcepts._io import write_json
from jaxconcepts._parts import process_slot, process_view
from jaxconcepts.features import torch_head
from jaxconcepts.heads import HostHead
from jaxconcepts.runners import (
    concept_sizes, load_concepts, run_importance, write_importance,
)
from jaxconcepts.stages._common import (
    REPORTS, dataset_dir, stage_config, stage_parser, write_disabled,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg, ccfg = stage_config(args, "importance", "concepts")
    if not cfg.enabled:
        write_disabled("importance", args.dataset, dirs=[dataset_dir(args.dataset, "importance")],
                       json_files=[Path(REPORTS) / args.dataset / "importance.json"])
        return
    head_mode, methods = cfg.head, tuple(cfg.methods)
    if not methods:
        raise ValueError("importance.methods=[] should name at least one of ['cgap', 'cpha']")

    from jaxconcepts.store import ActivationStore

    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    cpath = dataset_dir(args.dataset, "concepts")
    mine = process_view(store, *process_slot()).read("index", dtype=np.int64)  # this process's
    concepts, cmeta, _ = load_concepts(cpath, images=mine)  # ... images only, not the whole output
    for m in methods:
        for f in ("labels", "sub_labels"):
            if f"{m}_{f}" not in concepts:
                raise ValueError(f"{str(cpath)!r} has no {m}_{f!s}; keys: {sorted(concepts)}")
    k, s = concept_sizes(concepts, methods, cmeta,
                         n_concepts=ccfg.n_concepts, n_sub=ccfg.n_sub_concepts)

    if head_mode == "closed_form" and store.head is None:
        raise ValueError(
            "importance.head='closed_form' but the store's head is not GAP + linear "
            f"(manifest head.kind={store.manifest.get('head', {}).get('kind')!r})"
        )
    if head_mode != "torch" and store.head is not None:
        head, head_name = store.head, "closed_form (gap_linear)"
    else:
        head = HostHead(torch_head(store), batch_size=256)
        head_name = "torch (model head on masked maps)"

    t0 = time.perf_counter()
    arrays, stats = run_importance(
        store,
        concepts,
        head=head,
        n_concepts=k,
        n_sub=s,
        target=cfg.target,
        batch_size=cfg.batch_size,
        min_p=cfg.min_p,
        methods=methods,
    )
    seconds = time.perf_counter() - t0
    stats.update(
        dataset=args.dataset,
        head=head_name,
        n_concepts=k,
        n_sub_concepts=s,
        methods=list(methods),
        seconds=round(seconds, 3),
    )
    stats = write_importance(
        dataset_dir(args.dataset, "importance"),
        arrays,
        stats,
        concepts=concepts,
        store_images=len(store),
        methods=methods,
        metadata={
            "n_concepts": str(k),
            "n_sub_concepts": str(s),
            "target": stats["target"],
            "min_p": repr(stats["min_p"]),
            "head": head_name,
        },
    )
    if stats is not None:  # process 0, once every part is written
        write_json(Path(REPORTS) / args.dataset / "importance.json", stats)


if __name__ == "__main__":
    main()
