"""Concept overlays and figures (§4.3 of Lambert et al.; Figs. 3-6) as PNG.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so drawing them neither
selects nor changes matplotlib's backend (``savefig`` renders PNG with Agg by itself) and nothing
has to be closed.

Overlay: the grayscale input is weighted by the normalised concept map and shown with a "hot" colour
map (the paper uses OpenCV's COLORMAP_HOT; matplotlib's ``hot`` is the same black-red-yellow-white
ramp). One panel per non-empty concept, sorted by decreasing importance, titled with the concept id,
its number of channels A_N and its importance I_l.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from jaxconcepts._io import atomic_path

__all__ = [
    "concept_order",
    "overlay",
    "plot_compare",
    "plot_concepts",
    "plot_sub_concepts",
    "save_png",
]


def overlay(gray: np.ndarray, concept_map: np.ndarray) -> np.ndarray:
    """RGB float (H, W, 3) in [0, 1]: ``hot(gray * clip(map, 0, 1))`` (paper §4.3).

    Args:
        gray: (H, W) grayscale input in [0, 1].
        concept_map: (H, W) normalised concept map (values outside [0, 1] are clipped).
    """
    gray = np.asarray(gray, np.float32)
    m = np.clip(np.asarray(concept_map, np.float32), 0.0, 1.0)
    if gray.shape != m.shape:
        raise ValueError(f"concept_map shape {m.shape} should equal gray shape {gray.shape}")
    return matplotlib.colormaps["hot"](np.clip(gray, 0.0, 1.0) * m)[..., :3]


def concept_order(importance: np.ndarray, counts: np.ndarray) -> list[int]:
    """Non-empty concepts (counts > 0) sorted by decreasing importance (ties: lower id first)."""
    importance = np.asarray(importance, np.float64)
    counts = np.asarray(counts)
    ids = [int(i) for i in np.flatnonzero(counts > 0)]
    return sorted(ids, key=lambda i: (-importance[i], i))


def _concept_row(ax, gray, maps, importance, counts, prefix, label, n_panels):
    """One row of panels (the input, then one overlay per concept by decreasing importance) drawn
    as a single image on one axes, each panel titled above it: one axes per row, not per panel
    (matplotlib's per-axes cost dominated the figures stage)."""
    order = concept_order(importance, counts)
    panels = [(np.repeat(gray[..., None], 3, -1), label)]
    panels += [(overlay(gray, maps[l]),
                f"{prefix}C{l}  A_N={int(counts[l])}\nI={importance[l]:.3f}")
               for l in order]
    h, w = gray.shape
    gap = max(2, w // 24)
    canvas = np.ones((h, n_panels * w + (n_panels - 1) * gap, 3), np.float32)
    for i, (img, title) in enumerate(panels):
        x0 = i * (w + gap)
        canvas[:, x0:x0 + w] = img
        ax.text(x0 + w / 2, -0.03 * h, title, ha="center", va="bottom", fontsize=8)
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()


def plot_concepts(gray, maps, importance, counts, *, title: str = "", label: str = "input"):
    """One figure: the input then one overlay per concept, by decreasing I_l (paper Fig. 3).

    Args:
        gray: (H, W) grayscale model view in [0, 1].
        maps: (K, H, W) normalised concept maps.
        importance: (K,) I_l.
        counts: (K,) number of channels per concept (A_N); concepts with 0 are not drawn.
    Returns:
        a matplotlib Figure.
    """
    k = len(importance)
    fig = Figure(figsize=(2.0 * (k + 1), 2.5))
    ax = fig.subplots(1, 1)
    _concept_row(ax, np.asarray(gray), np.asarray(maps), np.asarray(importance),
                 np.asarray(counts), "", label, k + 1)
    _finish(fig, title)
    return fig


def plot_sub_concepts(
    gray, sub_maps, sub_importance, sub_counts, order: Sequence[int], *, title: str = ""
):
    """Sub-concepts of each concept (paper Figs. 4-5): one row per concept in ``order``.

    Args:
        gray: (H, W).
        sub_maps: (K, S, H, W) maps normalised with the parent's min / max.
        sub_importance: (K, S).
        sub_counts: (K, S) channels per sub-concept.
        order: concept ids, one row each (usually ``concept_order`` of the parents).
    """
    sub_maps, sub_importance, sub_counts = (
        np.asarray(x) for x in (sub_maps, sub_importance, sub_counts)
    )
    s = sub_maps.shape[1]
    rows = max(1, len(order))
    fig = Figure(figsize=(2.0 * (s + 1), 2.6 * rows))
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for r, l in enumerate(order):
        _concept_row(axes[r], np.asarray(gray), sub_maps[l], sub_importance[l], sub_counts[l],
                     f"C{l}/", f"C{l}", s + 1)
    if not order:
        axes[0].axis("off")
    _finish(fig, title)
    return fig


def plot_compare(gray, rows: dict, *, title: str = ""):
    """Methods side by side for one image (paper Fig. 6): one row per method.

    Args:
        gray: (H, W).
        rows: ``{method: (maps (K, H, W), importance (K,), counts (K,))}``, e.g. CGAP then CPHA.
    """
    k = max(len(v[1]) for v in rows.values())
    fig = Figure(figsize=(2.0 * (k + 1), 2.7 * len(rows)))
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (name, (maps, imp, cnt)) in zip(axes, rows.items()):
        _concept_row(ax, np.asarray(gray), np.asarray(maps), np.asarray(imp), np.asarray(cnt),
                     "", name.upper(), k + 1)
    _finish(fig, title)
    return fig


def _finish(fig, title):
    """Fixed margins in inches (no ``tight_layout``: it costs a full extra draw per figure)."""
    w, h = fig.get_size_inches()
    top = 0.45 if title else 0.1  # room for the suptitle
    fig.subplots_adjust(
        left=0.05 / w,
        right=1 - 0.05 / w,
        bottom=0.05 / h,
        top=1 - (top + 0.3) / h,
        wspace=0.06,
        hspace=0.3,
    )
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.12 / h, va="top")


def save_png(fig, path: str | os.PathLike, *, dpi: int = 80) -> None:
    """Save a figure as PNG atomically (closing it when pyplot made it)."""
    try:
        with atomic_path(path) as tmp:
            # zlib level 1: ~5x faster than the default 6, files ~20 % larger
            fig.savefig(tmp, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    finally:
        if fig.canvas.manager is not None:  # a pyplot figure: release pyplot's reference
            import matplotlib.pyplot as plt

            plt.close(fig)
