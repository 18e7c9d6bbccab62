"""Stage ``c2mf``: C2MF, CRAFT-style NMF and PCA concepts, evaluated as in the C2MF paper (§3.3).

Reads the activation store (and the ``crops`` stage's output for CRAFT), fits every method and k
streamed from the store (:func:`jaxconcepts.evaluation.run_c2mf`), and writes the dictionaries
(``data/<ds>/c2mf/``), the metrics, tables, loss curves, concept atlas and α sweep
(``reports/<ds>/c2mf*``) and the paper's Figs. 2–4 (``reports/<ds>/c2mf_figures/``); the formats
are in docs/ARCHITECTURE.md. Everything is computed before anything is written: a NaN in the C2MF
loss stops the stage with the solver's error and leaves the previous outputs untouched. With
``c2mf.enabled: false`` nothing is fitted and every output says why. Under several processes
(``JAX_*`` or SLURM variables) the fits are collective and process 0 writes.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from jaxconcepts._io import save_arrays, write_json, write_text
from jaxconcepts._schema import C2MF
from jaxconcepts.params import with_seed
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser

from jaxconcepts.stages._store import open_store

__all__ = ["main"]

FIGURES = "c2mf_figures"


def _clean(fig_dir):
    if fig_dir.is_dir():  # the figures are this stage's output: no stale ones left behind
        for old in [*fig_dir.glob("*.png"), *fig_dir.glob("NONE.txt")]:
            old.unlink()


def _write_disabled(store, ds, out, *, alpha) -> None:
    """Every output of a dataset with ``c2mf.enabled: false``, each saying why."""
    from jaxconcepts.evaluation import loss_csv
    from jaxconcepts.evaluation.c2mf._stage_outputs import disabled_metrics
    from jaxconcepts.report import alpha_sweep_markdown, c2mf_disabled_markdown
    from jaxconcepts.viz._c2mf_figures import c2mf_figures

    metrics = disabled_metrics(ds, len(store), len(set(store.read("target").tolist())))
    md = c2mf_disabled_markdown(ds, metrics["note"])
    _clean(out / FIGURES)
    c2mf_figures(metrics, out / FIGURES)  # NONE.txt with the reason
    save_arrays(dataset_dir(ds, "c2mf") / "dictionaries.safetensors",
                {"classes": np.zeros(0, np.int32)}, metadata={"enabled": "false"})
    save_arrays(dataset_dir(ds, "c2mf") / "atlas.safetensors", {}, metadata={"atlas": "{}"})
    write_json(out / "c2mf.json", metrics)
    write_text(out / "c2mf_loss.csv", loss_csv({}))
    for name, text in (("c2mf.md", md), ("c2mf_atlas.md", md),
                       ("c2mf_alpha_sweep.md", alpha_sweep_markdown([], dataset=ds, alpha=alpha))):
        write_text(out / name, text)
    write_json(out / "c2mf_alpha_sweep.json", {"rows": []})
    print(f"c2mf ({ds}): disabled ({metrics['note'][:60]}...)")


@dataclasses.dataclass
class _Results:
    """Everything the stage computes before it writes anything."""

    metrics: dict
    arrays: dict
    histories: dict
    fits: object
    atlases: list = dataclasses.field(default_factory=list)
    clip_names: dict = dataclasses.field(default_factory=dict)
    sweep: list = dataclasses.field(default_factory=list)
    naming_accuracy: object = None
    every: dict = dataclasses.field(default_factory=dict)


def _check_crops(cfg: C2MF, ds: str, crops) -> None:
    if "craft" in cfg.methods and cfg.craft_source == "crops" and not (
            crops / "manifest.json").is_file():
        raise FileNotFoundError(
            f"no crop activations at {str(crops)!r}: run `jaxconcepts crops --dataset "
            f"{ds}` (or `dvc repro`), or set c2mf.craft_source: rows")


def _atlases(res: _Results, store, cfg: C2MF, atlas, naming, load_image) -> None:
    """The concept atlas of each fitted method (collective: every process), into ``res``."""
    from jaxconcepts.evaluation.c2mf._atlas import fitted_atlases

    if res.fits is None or not cfg.atlas_k or store.head is None:
        return  # naming scores rows with a linear head
    res.atlases, res.clip_names = fitted_atlases(
        res.fits, store, [c["name"] for c in res.metrics["classes"]], load_image,
        methods=cfg.methods, k=cfg.atlas_k, gate_threshold=cfg.gate_threshold,
        max_concepts=atlas.max_concepts, top=naming.top, per_image=naming.per_image,
        n_words=naming.n_words, batch_images=cfg.eval_batch, max_images=atlas.max_images,
        clip_model=naming.clip_model, clip_checkpoint=naming.clip_checkpoint,
        clip_scale=naming.clip_scale)


def _sweep_and_naming(res: _Results, store, cfg: C2MF, truth) -> None:
    """The α sweep on the fitted split and the naming's accuracy on objects, into ``res``."""
    from jaxconcepts.evaluation.c2mf._alpha_sweep import sweep_fitted_split
    from jaxconcepts.evaluation.c2mf._atlas import objects_name_accuracy
    from jaxconcepts.evaluation._image_split import store_head_outputs

    if res.fits is not None and cfg.alpha_sweep and store.head is not None:
        res.sweep = sweep_fitted_split(res.fits, store.head, alphas=cfg.alpha_sweep,
                                       k=cfg.sweep_k, gate_threshold=cfg.gate_threshold,
                                       seed=int(cfg.seed))
    if truth is not None and "objects" in truth.meta:  # does the naming name the objects?
        res.naming_accuracy = res.metrics["naming_accuracy"] = objects_name_accuracy(
            res.atlases, truth.meta, n_outputs=store_head_outputs(store),
            gate_threshold=cfg.gate_threshold, top=3)


def _every_code(res: _Results, store, cfg: C2MF) -> None:
    """Every image's codes in each atlas's dictionary, into ``res``."""
    from jaxconcepts.evaluation.c2mf._atlas import all_codes

    res.every = {at.method: all_codes(res.fits.get(at.method, at.k), at.method, res.fits.view,
                                      grid=tuple(int(x) for x in store.shape[1:]),
                                      batch_images=cfg.eval_batch) for at in res.atlases}


def _save_dictionaries(res: _Results, ds: str) -> None:
    """``data/<ds>/c2mf/``: the dictionaries and every image's codes in each atlas."""
    from jaxconcepts.evaluation.c2mf._atlas import atlas_arrays

    save_arrays(dataset_dir(ds, "c2mf") / "dictionaries.safetensors", res.arrays,
                metadata={"settings": json.dumps(res.metrics["settings"]),
                          "classes": json.dumps([c["name"] for c in res.metrics["classes"]])})
    save_arrays(dataset_dir(ds, "c2mf") / "atlas.safetensors",
                *atlas_arrays(res.atlases, res.every))


def _write_reports(res: _Results, ds: str, out, cfg: C2MF, atlas, load_image) -> None:
    """``reports/<ds>/c2mf*``: the figures, metrics, tables, loss curves, atlas and α sweep."""
    from jaxconcepts.evaluation import loss_csv
    from jaxconcepts.evaluation.c2mf._stage_outputs import c2mf_summary
    from jaxconcepts.report import (alpha_sweep_markdown, atlas_markdown, markdown_report,
                                    no_atlas_markdown, recipe_table)
    from jaxconcepts.viz._c2mf_figures import atlas_figures, c2mf_figures

    metrics, fig_dir, gate = res.metrics, out / FIGURES, cfg.gate_threshold
    _clean(fig_dir)
    files = c2mf_figures(metrics, fig_dir)
    metrics["figures"] = {f: f"{FIGURES}/{name}" for f, name in files.items()}
    more = atlas_figures(res.atlases, load_image, fig_dir, top=atlas.top_images,
                         gate_threshold=gate, dataset=ds, alpha_rows=res.sweep)
    more = {key: f"{FIGURES}/{name}" for key, name in more.items()}
    recipes = {at.method: recipe_table(  # C2MF: C<j> + top word; baselines: C<j> = <class>/<i>
        at.usage, at.class_names, threshold=gate,
        names=[n.words[0][0] if at.shared else f"= {lab}" for n, lab in zip(at.names, at.labels)])
        for at in res.atlases}
    write_json(out / "c2mf.json", metrics)
    write_text(out / "c2mf_loss.csv", loss_csv(res.histories))
    write_text(out / "c2mf.md", markdown_report(metrics))
    write_text(out / "c2mf_atlas.md", atlas_markdown(
        res.atlases, figures=more, recipes=recipes, gate_threshold=gate, dataset=ds,
        clip_names=res.clip_names, naming_accuracy=res.naming_accuracy) if res.atlases else
        no_atlas_markdown(ds))
    write_json(out / "c2mf_alpha_sweep.json", {"rows": res.sweep})
    write_text(out / "c2mf_alpha_sweep.md", alpha_sweep_markdown(
        res.sweep, dataset=ds, alpha=cfg.alpha, figure=more.get(("sweep", "alpha"))))
    print(c2mf_summary(metrics, ds))


def main(argv: list[str] | None = None) -> None:
    import jax

    from jaxconcepts.datasets import load_truth
    from jaxconcepts.runners import run_c2mf, split_seed_runs
    from jaxconcepts.streaming import initialize_distributed
    from jaxconcepts.viz import load_model_view

    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    section, seed, naming, atlas = stage_config(args, "c2mf", "seed", "naming", "atlas")
    initialize_distributed()  # JAX_* / SLURM variables; a no-op for one process
    cfg = with_seed(section, seed)
    ds, out = args.dataset, REPORTS / args.dataset
    store = open_store(args)
    if not cfg.enabled:
        if jax.process_index() == 0:
            _write_disabled(store, ds, out, alpha=cfg.alpha)
        return
    crops = dataset_dir(ds, "crops")
    _check_crops(cfg, ds, crops)
    truth_dir = dataset_dir(ds, "prepare") / "truth"
    truth = load_truth(truth_dir, "test") if (truth_dir / "truth.json").is_file() else None

    t0 = time.perf_counter()
    res = _Results(*run_c2mf(store, cfg, dataset=ds, crops_path=crops, truth=truth))
    # the headline numbers across train/test splits (refits at one k; collective like the fits)
    res.metrics["split_seeds"] = split_seed_runs(store, cfg, res.metrics, dataset=ds,
                                                 crops_path=crops)

    images = store.images  # the manifest's records, resolved once (a list of every image)

    def load_image(pos):
        return load_model_view(images[pos]["path"], store.manifest["preprocessing"])

    _atlases(res, store, cfg, atlas, naming, load_image)
    if jax.process_index() != 0:  # the fits (collective) are done; process 0 writes
        return
    _sweep_and_naming(res, store, cfg, truth)
    _every_code(res, store, cfg)
    res.metrics["seconds"] = round(time.perf_counter() - t0, 2)
    json.dumps(res.metrics, allow_nan=False, default=str)  # refuse NaN before writing anything
    _save_dictionaries(res, ds)
    _write_reports(res, ds, out, cfg, atlas, load_image)


if __name__ == "__main__":
    main()
