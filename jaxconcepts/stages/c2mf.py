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

The concept atlas (``c2mf.atlas_k``; sections ``naming`` and ``atlas``): for each method, the
fitted dictionary of that k gives per concept its top images with the code map, its name in the
classifier's label space (optionally CLIP's words, ``naming.clip_checkpoint``), the classes that use
it, a class × concept usage figure and per-class recipes (``reports/<ds>/c2mf_atlas.md``, figures in
``c2mf_figures/``). The α sweep (``c2mf.alpha_sweep``, k = ``c2mf.sweep_k``) refits C2MF per α
(``reports/<ds>/c2mf_alpha_sweep.{md,json}``, ``c2mf_figures/alpha_sweep.png``). With
``c2mf.enabled: false`` nothing is fitted and every output says why.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from jaxconcepts._io import save_arrays, write_json, write_text
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser

__all__ = ["main"]

FIGURES = "c2mf_figures"


def _clean(fig_dir):
    if fig_dir.is_dir():  # the figures are this stage's output: no stale ones left behind
        for old in [*fig_dir.glob("*.png"), *fig_dir.glob("NONE.txt")]:
            old.unlink()


def main(argv: list[str] | None = None) -> None:
    from jaxconcepts.datasets import load_truth
    from jaxconcepts.evaluation import loss_csv, markdown_report, run_c2mf
    from jaxconcepts.evaluation._alpha_sweep import alpha_sweep_markdown, sweep_fitted_split
    from jaxconcepts.evaluation._c2mf_atlas import atlas_markdown, fitted_atlases
    from jaxconcepts.evaluation._c2mf_report import disabled_report
    from jaxconcepts.features import ActivationStore
    from jaxconcepts.viz import load_model_view
    from jaxconcepts.viz._atlas import recipe_table
    from jaxconcepts.viz._c2mf_figures import atlas_figures, c2mf_figures

    import jax

    from jaxconcepts.streaming import initialize_distributed

    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    section, seed, naming, atlas = stage_config(args, "c2mf", "seed", "naming", "atlas")
    initialize_distributed()  # JAX_* / SLURM variables; a no-op for one process
    cfg = dataclasses.asdict(section)
    if cfg["seed"] is None:
        cfg["seed"] = seed
    ds, out = args.dataset, REPORTS / args.dataset
    fig_dir = out / FIGURES
    store = ActivationStore(dataset_dir(ds, "activations"))
    if not cfg["enabled"]:
        if jax.process_index() != 0:
            return
        metrics, md = disabled_report(ds, len(store), len(set(store.read("target").tolist())))
        _clean(fig_dir)
        c2mf_figures(metrics, fig_dir)  # NONE.txt with the reason
        save_arrays(dataset_dir(ds, "c2mf") / "dictionaries.safetensors",
                    {"classes": np.zeros(0, np.int32)}, metadata={"enabled": "false"})
        write_json(out / "c2mf.json", metrics)
        write_text(out / "c2mf_loss.csv", loss_csv({}))
        for name, text in (("c2mf.md", md), ("c2mf_atlas.md", md),
                           ("c2mf_alpha_sweep.md", alpha_sweep_markdown([], dataset=ds,
                                                                          alpha=cfg["alpha"]))):
            write_text(out / name, text)
        write_json(out / "c2mf_alpha_sweep.json", {"rows": []})
        print(f"c2mf ({ds}): disabled ({metrics['note'][:60]}...)")
        return
    crops = dataset_dir(ds, "crops") / "crops.safetensors"
    if "craft" in cfg["methods"] and cfg["craft_source"] == "crops" and not crops.is_file():
        raise FileNotFoundError(
            f"no crop activations at {str(crops)!r}: run `jaxconcepts crops --dataset "
            f"{ds}` (or `dvc repro`), or set c2mf.craft_source: rows")
    truth_dir = dataset_dir(ds, "prepare") / "truth"
    truth = load_truth(truth_dir, "test") if (truth_dir / "truth.json").is_file() else None

    t0 = time.perf_counter()
    metrics, arrays, histories, fits = run_c2mf(store, cfg, dataset=ds, crops_path=crops,
                                                truth=truth)
    man = store.manifest

    def load_image(pos):
        return load_model_view(store.images[pos]["path"], man["preprocessing"])

    atlases, clip_names, sweep = [], {}, []
    if fits is not None and cfg["atlas_k"]:
        atlases, clip_names = fitted_atlases(
            fits, store, [c["name"] for c in metrics["classes"]], load_image,
            methods=cfg["methods"], k=cfg["atlas_k"], gate_threshold=cfg["gate_threshold"],
            max_concepts=atlas.max_concepts, top=naming.top, per_image=naming.per_image,
            n_words=naming.n_words, batch_images=cfg["eval_batch"],
            max_images=atlas.max_images,
            clip_model=naming.clip_model, clip_checkpoint=naming.clip_checkpoint,
            clip_scale=naming.clip_scale)
    if jax.process_index() != 0:  # the fits (collective) are done; process 0 writes
        return
    if fits is not None and cfg["alpha_sweep"]:
        sweep = sweep_fitted_split(fits, store.head, alphas=cfg["alpha_sweep"],
                                   k=cfg["sweep_k"], gate_threshold=cfg["gate_threshold"])
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    json.dumps(metrics, allow_nan=False, default=str)  # refuse NaN before writing anything
    _clean(fig_dir)
    files = c2mf_figures(metrics, fig_dir)
    metrics["figures"] = {f: f"{FIGURES}/{name}" for f, name in files.items()}
    more = atlas_figures(atlases, load_image, fig_dir, top=atlas.top_images,
                         gate_threshold=cfg["gate_threshold"], dataset=ds, alpha_rows=sweep)
    more = {key: f"{FIGURES}/{name}" for key, name in more.items()}
    recipes = {at.method: recipe_table(  # C2MF: C<j> + top word; baselines: C<j> = <class>/<i>
        at.usage, at.class_names, threshold=cfg["gate_threshold"],
        names=[n.words[0][0] if at.shared else f"= {lab}" for n, lab in zip(at.names, at.labels)])
        for at in atlases}
    save_arrays(dataset_dir(ds, "c2mf") / "dictionaries.safetensors", arrays,
                metadata={"settings": json.dumps(metrics["settings"]),
                          "classes": json.dumps([c["name"] for c in metrics["classes"]])})
    write_json(out / "c2mf.json", metrics)
    write_text(out / "c2mf_loss.csv", loss_csv(histories))
    write_text(out / "c2mf.md", markdown_report(metrics))
    write_text(out / "c2mf_atlas.md", atlas_markdown(
        atlases, figures=more, recipes=recipes, gate_threshold=cfg["gate_threshold"],
        dataset=ds, clip_names=clip_names) if atlases else
        f"## Concept atlas ({ds})\n\nNo atlas: c2mf.atlas_k is null or nothing was fitted.\n")
    write_json(out / "c2mf_alpha_sweep.json", {"rows": sweep})
    write_text(out / "c2mf_alpha_sweep.md", alpha_sweep_markdown(
        sweep, dataset=ds, alpha=cfg["alpha"], figure=more.get(("sweep", "alpha"))))
    if metrics["note"]:
        print(f"c2mf ({ds}): {metrics['note']}")
    for m, per_k in metrics["results"].items():
        for kk, e in per_k.items():
            r = e["reconstruction"]
            print(f"c2mf {m} {kk} (k={e['k_used']}): rec acc (pred) "
                  f"{r['acc_pred_mean']} | test mse {e['consistency']['test_mse']:.4g}")
    print(f"c2mf ({ds}): {metrics['seconds']} s; {len(metrics['too_small_classes'])} "
          "classes too small")


if __name__ == "__main__":
    main()
