"""Stage ``compare``: the paper's Tables 1 and 2 (Lambert et al. §4.2) on our activations.

Writes ``reports/<ds>/compare.json`` (DVC metrics) and ``reports/<ds>/compare.md`` (tables and
which of the paper's findings hold here). Params: section ``compare`` (every key required; see
:mod:`jaxconcepts.evaluation._compare` for what they mean).
"""

from __future__ import annotations

import dataclasses

from jaxconcepts._io import write_json, write_text
from jaxconcepts.evaluation._compare import load_subset, run_compare, to_markdown
from jaxconcepts.features import ActivationStore
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = stage_parser("Tables 1 and 2 of the clustering paper on our activations").parse_args(
        argv
    )
    cfg = dataclasses.asdict(stage_config(args, "compare"))

    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    A, index = load_subset(store, cfg["n_images"], seed=int(cfg["seed"]))
    res = run_compare(A, index, cfg)
    res["params"] = cfg
    write_json(REPORTS / args.dataset / "compare.json", res)
    write_text(REPORTS / args.dataset / "compare.md", to_markdown(res, args.dataset))
    print(f"compare: {res['n_images']} images -> {REPORTS / args.dataset / 'compare.json'}")


if __name__ == "__main__":
    main()
