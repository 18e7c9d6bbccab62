"""Figures 2–4 of the C2MF paper from the ``c2mf`` stage's metrics (``Figure``, no pyplot, PNG).

- Fig. 2 / Fig. 3: mean concept insertion and deletion curves on the test images, one line per
  method, concepts ranked by Grad-CAM (Fig. 2) or Integrated Gradients (Fig. 3); one column per k.
- Fig. 4: multi-class reconstruction accuracy against the number of shared concepts (the ablation).
- The concept atlas and the class × concept usage matrix of each method (:func:`atlas_figures`),
  and the α sweep.

Pure plotting of the metrics dict; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from jaxconcepts.viz._figures import save_png

__all__ = ["plot_insertion_deletion", "plot_ablation", "c2mf_figures", "atlas_figures"]

_NAMES = {"c2mf": "Ours (C2MF)", "craft": "CRAFT", "pca": "PCA",
          "craft_clustered": "CRAFT (clustered)", "pca_clustered": "PCA (clustered)",
          # the SAEs in the suite (evaluation.c2mf._sae_adapter.SAE_NAMES; viz is below evaluation)
          "topk": "TopK SAE", "batchtopk": "BatchTopK SAE", "jumprelu": "JumpReLU SAE",
          "matryoshka": "Matryoshka SAE", "archetypal": "Archetypal SAE"}
_COLORS = {"c2mf": "C3", "craft": "C0", "pca": "C2", "craft_clustered": "C0",
           "pca_clustered": "C2"}
_RANKING = {"gradcam": "Grad-CAM", "ig": "Integrated Gradients"}


def _entries(results: Mapping) -> list[tuple[str, list[tuple[str, Mapping]]]]:
    """[(k label, [(method, entry), ...])] over the requested k, in order."""
    ks: list[str] = []
    for per_k in results.values():
        for kk in per_k:
            if kk not in ks:
                ks.append(kk)
    ks.sort(key=lambda kk: int(kk[1:]))
    return [(kk, [(m, results[m][kk]) for m in results if kk in results[m]]) for kk in ks]


def plot_insertion_deletion(results: Mapping, ranking: str, *, title: str = "") -> Figure:
    """2 rows (insertion, deletion) × one column per k; x = fraction of concepts inserted/removed,
    y = mean softmax score of the explained class; the legend gives each curve's mean AUC."""
    cols = _entries(results)
    if not cols:
        raise ValueError("no results to plot")
    fig = Figure(figsize=(max(3.2 * len(cols) + 0.6, 5.8), 5.6))  # room for the title
    axes = fig.subplots(2, len(cols), squeeze=False, sharey=True)
    for j, (kk, entries) in enumerate(cols):
        for i, curve in enumerate(("insertion", "deletion")):
            ax = axes[i, j]
            for m, e in entries:
                d = e.get("insertion_deletion") or {}
                y = d.get(f"{curve}_{ranking}_curve")
                if not y:
                    continue
                x = np.linspace(0, 1, len(y))
                auc = d.get(f"{curve}_{ranking}_mean")
                ax.plot(x, y, color=_COLORS.get(m), label=f"{_NAMES.get(m, m)} ({auc:.3f})")
            k_used = entries[0][1].get("k_used", kk[1:])
            ax.set_title(f"{curve}, k = {k_used}", fontsize=9)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, title="AUC", title_fontsize=7)
            if j == 0:
                ax.set_ylabel("score of the class")
            if i == 1:
                ax.set_xlabel("fraction of concepts")
    fig.suptitle(title or ("Concept insertion / deletion, ranked by "
                           f"{_RANKING.get(ranking, ranking)}"), fontsize=10)
    fig.tight_layout()
    return fig


def plot_ablation(ablation: Mapping, *, title: str = "") -> Figure:
    """Reconstruction accuracy (%, vs the model's prediction) against the number of concepts."""
    n = ablation["n_concepts"]
    fig = Figure(figsize=(4.6, 3.4))
    ax = fig.subplots()
    for m in ("c2mf", "craft_clustered", "pca_clustered"):
        if m not in ablation:
            continue
        y = np.array([np.nan if v is None else 100 * v for v in ablation[m]], float)
        ax.plot(n, y, marker="o", color=_COLORS[m], label=_NAMES[m],
                linestyle="-" if m == "c2mf" else "--")
    if ablation.get("n_classes") in n:
        ax.axvline(ablation["n_classes"], color="0.6", lw=0.8, ls=":")
        ax.text(ablation["n_classes"], 2, " = #classes", fontsize=7, color="0.4")
    ax.set_xlabel("number of shared concepts n")
    ax.set_ylabel("reconstruction accuracy (%)")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Multi-class concept reconstruction", fontsize=10)
    fig.tight_layout()
    return fig


def c2mf_figures(metrics: Mapping, out_dir: str | Path) -> dict[str, str]:
    """Write Fig. 2 (Grad-CAM), Fig. 3 (IG) and Fig. 4 (ablation) as PNG under ``out_dir``.

    Returns:
        ``{"fig2": file name, ...}`` for the figures that had data.
    """
    out_dir = Path(out_dir)
    res = metrics.get("results") or {}
    files: dict[str, str] = {}
    ds = metrics.get("dataset", "")
    if res:
        for fig_id, ranking in (("fig2", "gradcam"), ("fig3", "ig")):
            fig = plot_insertion_deletion(
                res, ranking, title=f"{ds}: concept insertion / deletion, "
                                    f"ranked by {_RANKING[ranking]}")
            name = f"{fig_id}_insertion_deletion_{ranking}.png"
            save_png(fig, out_dir / name)
            files[fig_id] = name
    abl = metrics.get("ablation") or {}
    if abl.get("n_concepts"):
        fig = plot_ablation(abl, title=f"{ds}: multi-class concept reconstruction")
        save_png(fig, out_dir / "fig4_ablation.png")
        files["fig4"] = "fig4_ablation.png"
    if not files:  # the folder is a pipeline output: say why it is empty rather than omit it
        from jaxconcepts._io import write_text

        write_text(out_dir / "NONE.txt", "No C2MF figures: nothing was fitted for this dataset "
                   f"({metrics.get('note') or 'no results'}). See c2mf.md.\n")
    return files


def atlas_figures(atlases, load_image, out_dir: str | Path, *, top: int, gate_threshold: float,
                  dataset: str = "", alpha_rows=None, dpi: int = 80) -> dict:
    """Write ``atlas_<method>.png`` and ``gates_<method>.png`` for each atlas under ``out_dir``
    (and ``alpha_sweep.png`` when ``alpha_rows`` are given).

    Args:
        atlases: :class:`jaxconcepts.evaluation.c2mf._atlas.AtlasData` records (read as plain
            fields: ``method``, ``k``, ``images``, ``code_maps``, ``usage``, ``labels``,
            ``names``, ``order``, ``class_names``).
        load_image: store row position -> the image as the model saw it (uint8 (H, W, 3)).
        top: images per concept.

    Returns:
        ``{(method, "atlas" | "gates"): file name, ("sweep", "alpha"): ...}``.
    """
    from jaxconcepts.viz._atlas import plot_concept_atlas, plot_gate_matrix, top_images
    from jaxconcepts.viz._paper_figures import plot_alpha_sweep

    out_dir = Path(out_dir)
    files: dict = {}
    for at in atlases:
        tops = top_images(np.asarray(at.code_maps)[:, at.order], top=top)
        need = sorted(set(tops.ravel().tolist()))
        images = np.stack([load_image(int(at.images[i])) for i in need])
        names = [n.words[0][0][:18] if at.shared else f"= {lab}: {n.words[0][0][:18]}"
                 for lab, n in zip(at.labels, at.names)]  # the figure prefixes C<j>
        fig = plot_concept_atlas(images, np.asarray(at.code_maps)[need], top=top, names=names,
                                 gates=at.usage, class_names=at.class_names,
                                 gate_threshold=gate_threshold, concepts=at.order,
                                 image_ids=[int(at.images[i]) for i in need],
                                 title=f"{dataset}: {at.method} concept atlas (k = {at.k})")
        save_png(fig, out_dir / f"atlas_{at.method}.png", dpi=dpi)
        files[(at.method, "atlas")] = f"atlas_{at.method}.png"
        fig = plot_gate_matrix(at.usage, at.class_names, concept_names=at.labels,
                               title=f"{dataset}: {at.method} class × concept usage (k = {at.k})")
        save_png(fig, out_dir / f"gates_{at.method}.png", dpi=dpi)
        files[(at.method, "gates")] = f"gates_{at.method}.png"
    if alpha_rows:
        fig = plot_alpha_sweep(alpha_rows, title=f"{dataset}: C2MF α sweep "
                                                 f"(k = {alpha_rows[0]['k']})")
        save_png(fig, out_dir / "alpha_sweep.png", dpi=dpi)
        files[("sweep", "alpha")] = "alpha_sweep.png"
    return files
