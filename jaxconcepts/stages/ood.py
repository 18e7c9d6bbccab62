"""Stage ``ood``: confidence of complete images vs CRAFT's crops (C2MF App. B Table 4, Fig. 5).

Reads the activation store (``data/<ds>/activations``: the complete images' logits and the GAP +
linear head) and the crops stage's crop store (``data/<ds>/crops/``: g of each crop,
averaged over space, streamed), and writes

- ``reports/<ds>/ood.json``: μ of the max-softmax probability (MSP) on images and on crops, Δμ,
  the share of crops keeping their image's class, and the OOD metrics with the complete images as
  the in-distribution: AUROC, AUPR-In, AUPR-Out, FPR at ``ood.tpr`` TPR (DVC metrics);
- ``reports/<ds>/ood.md``: our row beside the paper's Table 4 rows, and whether the dataset is
  large enough (``ood.min_images``) to conclude anything;
- ``reports/<ds>/confidence.png``: MSP histograms of images and crops (``ood.bins`` bins; Fig. 5).

When the dataset has ground truth (``data/<ds>/prepare/truth/truth.json``: planted, objects), a
complete image always shows its object, so the crops are also split by the share of the object
(its defining parts) inside the crop box: ``by_object`` in ``ood.json`` and a table in ``ood.md``
give the same metrics for the crops that keep it (share ≥ ``ood.keep_fraction``) and those that
lose it, with 95 % bootstrap intervals over images.

The crops' logits are the head applied to the pooled crop activations, which is exact for a GAP +
linear head (the only kind the store can run without torch); other heads are refused.
"""

from __future__ import annotations

from jaxconcepts._io import write_json, write_text
from jaxconcepts.stages._common import (
    REPORTS, dataset_dir, stage_config, stage_parser, write_disabled,
)

__all__ = ["main"]

FIGURE = "confidence.png"


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg, seed = stage_config(args, "ood", "seed")
    if not cfg.enabled:
        out = REPORTS / args.dataset
        write_disabled("ood", args.dataset, json_files=[out / "ood.json"],
                       md_files=[out / "ood.md"], png_files=[out / FIGURE])
        return

    from jaxconcepts.evaluation.ood._confidence import (confidence_study_from_msp,
                                                        stream_crop_confidence)
    from jaxconcepts.report import object_split_markdown, ood_markdown
    from jaxconcepts.store import ActivationStore
    from jaxconcepts.viz._figures import save_png
    from jaxconcepts.viz._paper_figures import plot_confidence_histograms

    ds = args.dataset
    store = ActivationStore(dataset_dir(ds, "activations"))
    path = dataset_dir(ds, "crops")
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(f"no crop activations at {str(path)!r}: run `jaxconcepts crops "
                                f"--dataset {ds}` first")
    if store.head is None:
        raise ValueError(f"the store's head is {store.manifest.get('head', {}).get('kind')!r}, "
                         "not GAP + linear: the crops' logits cannot be computed from their pooled "
                         "activations (extract at the layer before a GAP + linear head)")
    msp, am = stream_crop_confidence(path, store.head, store_index=store.read("index"))
    logits = store.read("logits")
    study = confidence_study_from_msp(logits, msp, am, tpr=cfg.tpr)
    summary = {"dataset": ds, "model": store.manifest.get("model"),
               "n_crops_per_image": int(msp.shape[1]), "too_small": study.metrics["n_in"]
               < cfg.min_images, **study.summary(), "settings": {"bins": cfg.bins,
               "tpr": cfg.tpr, "min_images": cfg.min_images}}
    truth_dir = dataset_dir(ds, "prepare") / "truth"
    split = None
    if (truth_dir / "truth.json").is_file():
        from jaxconcepts.evaluation.ood._confidence import object_split

        split = object_split(study.conf_full, msp, _object_fractions(store, path, truth_dir),
                             keep_fraction=cfg.keep_fraction, tpr=cfg.tpr,
                             agree=am == logits.argmax(-1)[:, None], seed=seed)
        summary["by_object"] = split
    fig = plot_confidence_histograms({ds: study}, bins=cfg.bins,
                                     title=f"{ds} ({store.manifest.get('model')}): MSP of "
                                     "complete images vs crops")
    save_png(fig, REPORTS / ds / FIGURE)
    write_json(REPORTS / ds / "ood.json", summary)
    md = ood_markdown(summary, ds, backbone=str(summary["model"]), min_images=cfg.min_images,
                      figure=FIGURE)
    if split is not None:
        md += "\n" + object_split_markdown(split, ds)
    write_text(REPORTS / ds / "ood.md", md)
    m = study.metrics
    print(f"ood ({ds}): {m['n_in']} images, {m['n_out']} crops; μ {study.mu_full:.3f} vs "
          f"{study.mu_crops:.3f} (Δμ {study.delta_mu:.3f}); AUROC {m['auroc']:.3f}")
    if split is not None:
        for k in ("keeps", "loses"):
            r = split[k]
            print(f"  crops that {k[:-1]} the object: {r['n_crops']}, AUROC "
                  f"{'–' if r['auroc'] is None else format(r['auroc'], '.3f')}")


def _object_fractions(store, crops_path, truth_dir):
    """Share of each image's object inside each crop box ``(N, n_crops)``, the truth rows matched
    to the store's images; the masks must be the model input's size (crop_pct 1.0)."""
    from jaxconcepts.datasets import load_truth
    from jaxconcepts.evaluation.ood._confidence import object_fractions
    from jaxconcepts.evaluation import match_rows
    from jaxconcepts.store import read_crop_boxes

    pre = store.manifest.get("preprocessing") or {}
    if "input_size" not in pre:
        raise ValueError(f"the store {str(store.path)!r} records no preprocessing.input_size: the "
                         f"truth masks of {str(truth_dir)!r} cannot be aligned with the crop boxes")
    if pre.get("crop_pct", 1.0) != 1.0:
        raise ValueError(f"the store was extracted with crop_pct={pre['crop_pct']}, so the model "
                         "input is not the whole image and the truth masks do not align with the "
                         "crop boxes (extract with crop_pct 1.0)")
    truth = load_truth(truth_dir, "test")
    rows = match_rows(store.images, truth.files)
    return object_fractions(truth.part_map[rows], truth.defining[rows], read_crop_boxes(crops_path),
                            input_size=tuple(pre["input_size"][-2:]))


if __name__ == "__main__":
    main()
