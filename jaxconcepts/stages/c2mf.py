"""Stage ``c2mf``: C2MF, CRAFT-style NMF and PCA concepts, evaluated as in the C2MF paper (§3.3).

Reads the activation store (``data/<ds>/activations``) and writes

- ``data/<ds>/c2mf/dictionaries.safetensors``: per method and k the dictionary
  (``c2mf_k{k}_W`` (k, c), ``c2mf_k{k}_gates`` (Y, k), ``craft_k{k}_W`` / ``pca_k{k}_W`` (Y, k, c),
  ``pca_k{k}_mean`` (Y, c)) and ``classes`` (Y,), the store class of each fitted class;
- ``reports/<ds>/c2mf.json``: DVC metrics (per method and k: insertion/deletion AUC with Grad-CAM
  and IG ranking, concept similarity, per-class reconstruction accuracy, consistency; the
  multi-class ablation; classes left out; the planted ground-truth scores when they exist);
- ``reports/<ds>/c2mf_loss.csv``: the C2MF objective per step for each k (DVC plot);
- ``reports/<ds>/c2mf.md``: Markdown tables in the layout of the paper's Tables 1–3.

Rows: every spatial position of every image, ``(B·H·W, C)``; the class of an image is the store's
``target`` (the predicted class unless extraction used labels), ``pred``, or ``label`` (falling back
to the prediction for unlabelled images), per ``c2mf.labels``. Images are split train/test per
class by image (seeded); classes with fewer than ``min_images`` images are reported and left out.
Kept classes are remapped to ``0..Y-1`` for fitting; ``classes`` keeps the mapping.

The CRAFT baseline is fitted as in CRAFT: per class, NMF of the spatially averaged activations of
random crops of the *train* images (``data/<ds>/crops``, written by the ``crops`` stage with the
torch model), with Sobol total indices as its own concept importance; its test codes are NNLS on
its W, like every method. ``craft_source: rows`` instead fits it on the full-image rows clipped at
0 (no crops stage needed). Figures 2–4 of the paper (insertion/deletion curves with Grad-CAM and
IG ranking; reconstruction accuracy vs number of concepts) go to ``reports/<ds>/c2mf_figures/``.

The suite lives in :mod:`jaxconcepts.evaluation` (``run_c2mf``); this stage reads its params section
(every key required: ``params.yaml`` is the only home of the values), calls it and writes the
outputs. Everything is computed before anything is written: a NaN in the C2MF loss stops the stage
with the solver's error (naming the step) and leaves the previous outputs untouched.
"""

from __future__ import annotations

import dataclasses
import json
import time

from jaxconcepts._io import save_arrays, write_json, write_text
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser

__all__ = ["main"]

FIGURES = "c2mf_figures"


def main(argv: list[str] | None = None) -> None:
    from jaxconcepts.datasets import load_truth
    from jaxconcepts.evaluation import loss_csv, markdown_report, run_c2mf
    from jaxconcepts.features import ActivationStore
    from jaxconcepts.viz._c2mf_figures import c2mf_figures

    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    section, seed = stage_config(args, "c2mf", "seed")
    cfg = dataclasses.asdict(section)
    if cfg["seed"] is None:
        cfg["seed"] = seed
    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    crops = dataset_dir(args.dataset, "crops") / "crops.safetensors"
    if "craft" in cfg["methods"] and cfg["craft_source"] == "crops" and not crops.is_file():
        raise FileNotFoundError(
            f"no crop activations at {str(crops)!r}: run `jaxconcepts crops --dataset "
            f"{args.dataset}` (or `dvc repro`), or set c2mf.craft_source: rows")
    truth_dir = dataset_dir(args.dataset, "prepare") / "truth"
    truth = load_truth(truth_dir, "test") if (truth_dir / "truth.json").is_file() else None

    t0 = time.perf_counter()
    metrics, arrays, histories = run_c2mf(store, cfg, dataset=args.dataset, crops_path=crops,
                                          truth=truth)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    json.dumps(metrics, allow_nan=False, default=str)  # refuse NaN before writing anything
    fig_dir = REPORTS / args.dataset / FIGURES
    if fig_dir.is_dir():  # the figures are this stage's output: no stale ones left behind
        for old in [*fig_dir.glob("*.png"), *fig_dir.glob("NONE.txt")]:
            old.unlink()
    files = c2mf_figures(metrics, fig_dir)
    metrics["figures"] = {f: f"{FIGURES}/{name}" for f, name in files.items()}
    md = markdown_report(metrics)
    save_arrays(dataset_dir(args.dataset, "c2mf") / "dictionaries.safetensors", arrays,
                metadata={"settings": json.dumps(metrics["settings"]),
                          "classes": json.dumps([c["name"] for c in metrics["classes"]])})
    write_json(REPORTS / args.dataset / "c2mf.json", metrics)
    write_text(REPORTS / args.dataset / "c2mf_loss.csv", loss_csv(histories))
    write_text(REPORTS / args.dataset / "c2mf.md", md)
    if metrics["note"]:
        print(f"c2mf ({args.dataset}): {metrics['note']}")
    for m, per_k in metrics["results"].items():
        for kk, e in per_k.items():
            r = e["reconstruction"]
            print(f"c2mf {m} {kk} (k={e['k_used']}): rec acc (pred) "
                  f"{r['acc_pred_mean']} | test mse {e['consistency']['test_mse']:.4g} | "
                  f"ins(gc) {e['insertion_deletion']['insertion_gradcam_mean']:.3f}")
    print(f"c2mf ({args.dataset}): {metrics['seconds']} s; {len(metrics['too_small_classes'])} "
          "classes too small")


if __name__ == "__main__":
    main()
