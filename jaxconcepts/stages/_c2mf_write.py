"""The ``c2mf`` stage's writers: :func:`write_c2mf` writes what
:func:`jaxconcepts.runners.c2mf_outputs` computed (the dictionaries and codes under
``data/<ds>/c2mf``; the figures, metrics, tables, loss curves, atlas and α sweep under
``reports/<ds>``), refusing a NaN before its first file, so a failed run leaves the previous
outputs untouched; :func:`write_c2mf_disabled` writes the outputs of a dataset with
``c2mf.enabled: false``, each saying why. The formats are in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jaxconcepts._io import save_arrays, write_json, write_text
from jaxconcepts._schema import C2MF

__all__ = ["FIGURES", "write_c2mf", "write_c2mf_disabled"]

FIGURES = "c2mf_figures"
"""The folder of the reports directory that holds the stage's figures."""


def _clean(fig_dir: Path) -> None:
    if fig_dir.is_dir():  # the figures are the stage's output: no stale ones left behind
        for old in [*fig_dir.glob("*.png"), *fig_dir.glob("NONE.txt")]:
            old.unlink()


def _save_dictionaries(res, data_dir: Path) -> None:
    """``data/<ds>/c2mf/``: the dictionaries and every image's codes in each atlas."""
    from jaxconcepts.evaluation.c2mf._atlas import atlas_arrays

    save_arrays(data_dir / "dictionaries.safetensors", res.arrays,
                metadata={"settings": json.dumps(res.metrics["settings"]),
                          "classes": json.dumps([c["name"] for c in res.metrics["classes"]])})
    save_arrays(data_dir / "atlas.safetensors", *atlas_arrays(res.atlases, res.every))


def _atlas_page(res, dataset: str, figures: dict, gate: float) -> str:
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


def write_c2mf(res, *, dataset: str, data_dir, out, cfg: C2MF, atlas,
               load_image) -> None:
    """Write ``res`` (a :class:`jaxconcepts.runners.C2MFOutputs`): the dictionaries and codes
    under ``data_dir`` (``data/<ds>/c2mf``); the figures (``FIGURES/``), metrics, tables, loss
    curves, atlas and α sweep under ``out`` (``reports/<ds>``). Refuses a NaN in the metrics
    (``ValueError``) before writing anything."""
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
