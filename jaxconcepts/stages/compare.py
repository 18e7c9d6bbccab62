"""Stage ``compare``: the paper's Tables 1-2 and Fig. 2 (Lambert et al. §4.2) on our activations.

Writes ``reports/<ds>/compare.json`` (DVC metrics), ``reports/<ds>/compare.md`` (tables, which of
the paper's findings hold, Fig. 2), ``reports/<ds>/compare_records.csv`` (per image, method and
algorithm: label, SS, CHI, DBI; long format) and ``reports/<ds>/compare_fig2.png`` (per-label
boxplots, CGAP row and CPHA row). Params: section ``compare`` (see
:mod:`jaxconcepts.evaluation.clustering._compare` for what they mean).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxconcepts._io import write_json, write_text
from jaxconcepts.evaluation.clustering._compare import load_subset, records_csv, run_compare
from jaxconcepts.store import ActivationStore
from jaxconcepts.stages._common import (
    REPORTS, dataset_dir, stage_config, stage_parser, write_disabled,
)

__all__ = ["main"]

FIGURE = "compare_fig2.png"


def main(argv: list[str] | None = None) -> None:
    args = stage_parser("Tables 1 and 2 of the clustering paper on our activations").parse_args(
        argv
    )
    cfg = dataclasses.asdict(stage_config(args, "compare"))
    if not cfg["enabled"]:
        out = REPORTS / args.dataset
        write_disabled("compare", args.dataset, json_files=[out / "compare.json"],
                       md_files=[out / "compare.md"], png_files=[out / FIGURE],
                       csv_files=[(out / "compare_records.csv",
                                   "index,method,algorithm,label,ss,chi,dbi")])
        return
    from jaxconcepts.report import compare_markdown
    from jaxconcepts.viz import class_namer, save_png
    from jaxconcepts.viz._paper_figures import plot_cluster_boxplots

    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    A, index = load_subset(store, cfg["n_images"], seed=int(cfg["seed"]))
    label = np.where(store.read("label") >= 0, store.read("label"), store.read("target"))
    labels = dict(zip(store.read("index").tolist(), label.tolist()))
    res = run_compare(A, index, cfg, labels=labels)
    records = res.pop("records")
    res["params"] = cfg
    man = store.manifest
    names = {int(im["label"]): im["label_name"] for im in man["images"]
             if im.get("label", -1) >= 0 and im.get("label_name")}
    name_of = class_namer(man)
    label_names = {lab: names.get(lab, name_of(lab)) for lab in set(labels.values())}
    out = REPORTS / args.dataset
    fig = plot_cluster_boxplots(records, label_names=label_names,
                                title=f"{args.dataset}: Fig. 2 (N = {res['n_concepts']})")
    save_png(fig, out / FIGURE)
    write_json(out / "compare.json", res)
    write_text(out / "compare_records.csv", records_csv(records))
    write_text(out / "compare.md", compare_markdown(res, args.dataset, figure=FIGURE))
    print(f"compare: {res['n_images']} images -> {out / 'compare.json'}")


if __name__ == "__main__":
    main()
