"""Stage ``recovery``: score extracted concepts against the planted ground truth.

Reads the activation store (``data/<ds>/activations``), the concepts
(``data/<ds>/concepts``, its parts read as one), the importance
(``data/<ds>/importance``) and the planted ground truth of the explained
(test) split (``data/<ds>/prepare/truth``), and writes

- ``reports/<ds>/recovery.json``: DVC metrics, one entry per scored source;
- ``reports/<ds>/recovery_per_part.json``: the same scores per part;
- ``reports/<ds>/recovery.md``: a Markdown table for the report.

Sources (rows of the table), for each method ``m`` in ``recovery.methods`` (default cgap, cpha):
``m`` (its K concepts, importance from the importance stage), ``m_sub`` (its K x S sub-concepts,
sub-concept importance), ``random_m`` and ``random_m_sub`` (the baselines: each image's live
channels regrouped at random with the same concept / sub-concept sizes, importance recomputed with
the same head and target, over ``recovery.baseline_seeds`` seeds). ``recovery.json`` holds, under
``baseline``, each method's importance AUROC paired with its baseline's (mean ± std over seeds) and
the size-only reference. The scores are defined in
:mod:`jaxconcepts.evaluation.clustering._recovery`; the sources in :mod:`jaxconcepts.runners`
(``run_recovery``); the page in :mod:`jaxconcepts.report`.
"""

from __future__ import annotations

import dataclasses
import time

from jaxconcepts._io import write_json, write_text
from jaxconcepts._parts import load_concepts, load_importance
from jaxconcepts.report import recognition_markdown, recovery_markdown
from jaxconcepts.runners import run_recovery
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser

__all__ = ["main"]


def _f(x, fmt="{:.3f}"):
    return "–" if x is None else fmt.format(x)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.set_defaults(dataset="planted")
    args = parser.parse_args(argv)
    cfg = stage_config(args, "recovery")

    from jaxconcepts.datasets import load_truth
    from jaxconcepts.store import ActivationStore

    truth_dir = dataset_dir(args.dataset, "prepare") / "truth"
    if not (truth_dir / "truth.json").is_file():
        raise FileNotFoundError(
            f"{truth_dir}/truth.json not found: recovery needs a dataset with ground truth "
            f"(datasets.{args.dataset}.prepare.source: planted or objects)"
        )
    truth = load_truth(truth_dir, "test")
    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    prep = store.manifest.get("preprocessing") or {}
    if float(prep.get("crop_pct", 1.0)) != 1.0:
        raise ValueError(
            f"store preprocessing crop_pct={prep.get('crop_pct')} crops the images, so part masks "
            "would not align with the activations; extract with crop_pct 1.0 "
            "(model_kwargs.pretrained_cfg_overlay.crop_pct: 1.0)"
        )
    concepts = load_concepts(dataset_dir(args.dataset, "concepts")).arrays
    importance = load_importance(dataset_dir(args.dataset, "importance")).arrays
    head = store.head  # HeadParams, or None when h is not GAP + linear

    t0 = time.perf_counter()
    summaries, per_part, baseline = run_recovery(store, concepts, importance, truth, cfg, head=head)
    out = dict(summaries)
    out["baseline"] = baseline
    keys = ("tolerance", "iou_threshold", "found_iou", "found_fraction", "seed", "baseline_seeds")
    out["settings"] = {k: getattr(cfg, k) for k in keys}
    md = recovery_markdown(summaries, dataclasses.asdict(cfg), args.dataset, baseline)
    if "objects" in truth.meta:  # the real-photo benchmark: does the backbone know the objects?
        out["recognition"], rec_md = _recognition(store, truth, args.dataset, int(cfg.seed))
        md = rec_md + "\n" + md
    out["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(REPORTS / args.dataset / "recovery.json", out)
    write_json(REPORTS / args.dataset / "recovery_per_part.json", per_part)
    write_text(REPORTS / args.dataset / "recovery.md", md)
    for name, s in summaries.items():
        print(f"recovery {name}: pointing={_f(s['pointing'])} iou={_f(s['iou'])} "
              f"auroc={_f(s['auroc'])} found={s['parts_found']}/{s['parts_present']} "
              f"imp_auroc={_f(s['importance']['auroc'])}")
    for src, d in baseline.items():
        print(f"recovery {src} vs {d['baseline']} ({d['n_seeds']} seeds): paired diff "
              f"{_f(d['paired_diff'], '{:+.3f}')} ± {_f(d['paired_diff_std'])}")


def _recognition(store, truth, dataset: str, seed: int):
    """Per object class, how often the backbone answers one of its synsets (recovery.json's
    ``recognition``) and the Markdown table."""
    import numpy as np

    from jaxconcepts.evaluation import match_rows
    from jaxconcepts.evaluation._recognition import recognition
    from jaxconcepts.store import imagenet_lemmas, imagenet_synsets

    logits = store.read("logits")
    rows = match_rows(store.images, truth.files)
    labels = np.asarray(truth.label)[rows]
    objects = {o["class"]: o for o in truth.meta["objects"]}
    wnids = [objects[c]["wnids"] for c in truth.class_names]
    synsets = imagenet_synsets() if logits.shape[1] == 1000 else []
    if not synsets:
        raise ValueError(f"the objects benchmark needs an ImageNet-1k head (1000 outputs), the "
                         f"store's has {logits.shape[1]}")
    lemmas = [ls[0] for ls in imagenet_lemmas()]
    rec = recognition(logits, labels, truth.class_names, wnids, synsets, lemmas, seed=seed)
    return rec, recognition_markdown(rec, dataset=dataset, model=store.manifest["model"])


if __name__ == "__main__":
    main()
