"""The ``c2mf`` stage's work beyond the fits: :func:`c2mf_outputs` computes everything the stage
writes (the fits and their evaluation from :func:`~jaxconcepts.runners.run_c2mf`, the headline
numbers across split seeds, each method's concept atlas, the α sweep, the naming's accuracy on
objects, every image's codes) and :func:`write_c2mf` writes it; :func:`write_c2mf_disabled`
writes the outputs of a dataset with ``c2mf.enabled: false``, each saying why.

Everything is computed before anything is written, and :func:`write_c2mf` refuses a NaN before
its first file: a failed run leaves the previous outputs untouched. Under several processes the
fits and atlases are collective; :func:`c2mf_outputs` returns ``None`` on every process but 0,
which writes. The formats are in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from jaxconcepts._io import save_arrays, write_json, write_text
from jaxconcepts._schema import C2MF

__all__ = ["FIGURES", "C2MFOutputs", "c2mf_outputs", "write_c2mf", "write_c2mf_disabled"]

FIGURES = "c2mf_figures"
"""The folder of the reports directory that holds the stage's figures."""


@dataclasses.dataclass
class C2MFOutputs:
    """Everything the stage writes: :func:`~jaxconcepts.runners.run_c2mf`'s four results, then
    the atlases (one per method, with CLIP's names where a CLIP model is set), the α sweep rows,
    the naming's accuracy on objects and every image's codes per atlas."""

    metrics: dict
    arrays: dict
    histories: dict
    fits: object
    atlases: list = dataclasses.field(default_factory=list)
    clip_names: dict = dataclasses.field(default_factory=dict)
    sweep: list = dataclasses.field(default_factory=list)
    naming_accuracy: object = None
    every: dict = dataclasses.field(default_factory=dict)


def _atlases(res: C2MFOutputs, store, cfg: C2MF, atlas, naming, load_image) -> None:
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


def _sweep_and_naming(res: C2MFOutputs, store, cfg: C2MF, truth) -> None:
    """The α sweep on the fitted split and the naming's accuracy on objects, into ``res``."""
    from jaxconcepts.evaluation._image_split import store_head_outputs
    from jaxconcepts.evaluation.c2mf._alpha_sweep import sweep_fitted_split
    from jaxconcepts.evaluation.c2mf._atlas import objects_name_accuracy

    if res.fits is not None and cfg.alpha_sweep and store.head is not None:
        res.sweep = sweep_fitted_split(res.fits, store.head, alphas=cfg.alpha_sweep,
                                       k=cfg.sweep_k, gate_threshold=cfg.gate_threshold,
                                       seed=int(cfg.seed))
    if truth is not None and "objects" in truth.meta:  # does the naming name the objects?
        res.naming_accuracy = res.metrics["naming_accuracy"] = objects_name_accuracy(
            res.atlases, truth.meta, n_outputs=store_head_outputs(store),
            gate_threshold=cfg.gate_threshold, top=3)


def _every_code(res: C2MFOutputs, store, cfg: C2MF) -> None:
    """Every image's codes in each atlas's dictionary, into ``res``."""
    from jaxconcepts.evaluation.c2mf._atlas import all_codes

    res.every = {at.method: all_codes(res.fits.get(at.method, at.k), at.method, res.fits.view,
                                      grid=tuple(int(x) for x in store.shape[1:]),
                                      batch_images=cfg.eval_batch) for at in res.atlases}


def c2mf_outputs(store, cfg: C2MF, *, dataset: str, crops_path, truth, atlas, naming,
                 load_image) -> C2MFOutputs | None:
    """Everything the ``c2mf`` stage writes, computed and held in memory.

    ``cfg``: the typed ``c2mf`` section with its seed (:func:`jaxconcepts.params.with_seed`);
    ``atlas``, ``naming``: the ``atlas`` and ``naming`` sections; ``truth``: the test split's
    ground truth or ``None``; ``load_image(pos)``: the model's view of the store's image ``pos``.
    Collective under several processes; returns ``None`` on every process but 0."""
    import jax

    from jaxconcepts.runners._c2mf import run_c2mf, split_seed_runs

    res = C2MFOutputs(*run_c2mf(store, cfg, dataset=dataset, crops_path=crops_path, truth=truth))
    # the headline numbers across train/test splits (refits at one k; collective like the fits)
    res.metrics["split_seeds"] = split_seed_runs(store, cfg, res.metrics, dataset=dataset,
                                                 crops_path=crops_path)
    _atlases(res, store, cfg, atlas, naming, load_image)
    if jax.process_index() != 0:  # the fits (collective) are done; process 0 writes
        return None
    _sweep_and_naming(res, store, cfg, truth)
    _every_code(res, store, cfg)
    return res


def _clean(fig_dir: Path) -> None:
    if fig_dir.is_dir():  # the figures are the stage's output: no stale ones left behind
        for old in [*fig_dir.glob("*.png"), *fig_dir.glob("NONE.txt")]:
            old.unlink()


def _save_dictionaries(res: C2MFOutputs, data_dir: Path) -> None:
    """``data/<ds>/c2mf/``: the dictionaries and every image's codes in each atlas."""
    from jaxconcepts.evaluation.c2mf._atlas import atlas_arrays

    save_arrays(data_dir / "dictionaries.safetensors", res.arrays,
                metadata={"settings": json.dumps(res.metrics["settings"]),
                          "classes": json.dumps([c["name"] for c in res.metrics["classes"]])})
    save_arrays(data_dir / "atlas.safetensors", *atlas_arrays(res.atlases, res.every))


def _atlas_page(res: C2MFOutputs, dataset: str, figures: dict, gate: float) -> str:
    """``c2mf_atlas.md``: every atlas with its figures and recipes, or why there is none."""
    from jaxconcepts.report import atlas_markdown, no_atlas_markdown, recipe_table

    if not res.atlases:
        return no_atlas_markdown(dataset)
    recipes = {at.method: recipe_table(  # C2MF: C<j> + top word; baselines: C<j> = <class>/<i>
        at.usage, at.class_names, threshold=gate,
        names=[n.words[0][0] if at.shared else f"= {lab}" for n, lab in zip(at.names, at.labels)])
        for at in res.atlases}
    return atlas_markdown(res.atlases, figures=figures, recipes=recipes, gate_threshold=gate,
                          dataset=dataset, clip_names=res.clip_names,
                          naming_accuracy=res.naming_accuracy)


def write_c2mf(res: C2MFOutputs, *, dataset: str, data_dir, out, cfg: C2MF, atlas,
               load_image) -> None:
    """Write ``res``: the dictionaries and codes under ``data_dir`` (``data/<ds>/c2mf``); the
    figures (``FIGURES/``), metrics, tables, loss curves, atlas and α sweep under ``out``
    (``reports/<ds>``). Refuses a NaN in the metrics before writing anything."""
    from jaxconcepts.evaluation import loss_csv
    from jaxconcepts.evaluation.c2mf._stage_outputs import c2mf_summary
    from jaxconcepts.report import alpha_sweep_markdown, markdown_report
    from jaxconcepts.viz._c2mf_figures import atlas_figures, c2mf_figures

    json.dumps(res.metrics, allow_nan=False, default=str)  # refuse NaN before writing anything
    data_dir, out = Path(data_dir), Path(out)
    _save_dictionaries(res, data_dir)
    metrics, fig_dir, gate = res.metrics, out / FIGURES, cfg.gate_threshold
    _clean(fig_dir)
    files = c2mf_figures(metrics, fig_dir)
    metrics["figures"] = {f: f"{FIGURES}/{name}" for f, name in files.items()}
    more = atlas_figures(res.atlases, load_image, fig_dir, top=atlas.top_images,
                         gate_threshold=gate, dataset=dataset, alpha_rows=res.sweep)
    more = {key: f"{FIGURES}/{name}" for key, name in more.items()}
    write_json(out / "c2mf.json", metrics)
    write_text(out / "c2mf_loss.csv", loss_csv(res.histories))
    write_text(out / "c2mf.md", markdown_report(metrics))
    write_text(out / "c2mf_atlas.md", _atlas_page(res, dataset, more, gate))
    write_json(out / "c2mf_alpha_sweep.json", {"rows": res.sweep})
    write_text(out / "c2mf_alpha_sweep.md", alpha_sweep_markdown(
        res.sweep, dataset=dataset, alpha=cfg.alpha, figure=more.get(("sweep", "alpha"))))
    print(c2mf_summary(metrics, dataset))


def write_c2mf_disabled(store, *, dataset: str, data_dir, out, alpha: float) -> None:
    """Every output of a dataset with ``c2mf.enabled: false``, each saying why."""
    from jaxconcepts.evaluation import loss_csv
    from jaxconcepts.evaluation.c2mf._stage_outputs import disabled_metrics
    from jaxconcepts.report import alpha_sweep_markdown, c2mf_disabled_markdown
    from jaxconcepts.viz._c2mf_figures import c2mf_figures

    data_dir, out = Path(data_dir), Path(out)
    metrics = disabled_metrics(dataset, len(store), len(set(store.read("target").tolist())))
    md = c2mf_disabled_markdown(dataset, metrics["note"])
    _clean(out / FIGURES)
    c2mf_figures(metrics, out / FIGURES)  # NONE.txt with the reason
    save_arrays(data_dir / "dictionaries.safetensors", {"classes": np.zeros(0, np.int32)},
                metadata={"enabled": "false"})
    save_arrays(data_dir / "atlas.safetensors", {}, metadata={"atlas": "{}"})
    write_json(out / "c2mf.json", metrics)
    write_text(out / "c2mf_loss.csv", loss_csv({}))
    for name, text in (("c2mf.md", md), ("c2mf_atlas.md", md),
                       ("c2mf_alpha_sweep.md", alpha_sweep_markdown([], dataset=dataset,
                                                                    alpha=alpha))):
        write_text(out / name, text)
    write_json(out / "c2mf_alpha_sweep.json", {"rows": []})
    print(f"c2mf ({dataset}): disabled ({metrics['note'][:60]}...)")
