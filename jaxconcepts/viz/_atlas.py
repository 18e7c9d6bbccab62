"""A concept atlas: how people read a dictionary (CRAFT's and Lens's concept pages).

For any dictionary method (C2MF, CRAFT, PCA) given as plain arrays:

- :func:`plot_concept_atlas`: one row per concept — its top-activating images with the concept's
  spatial code map over them, titled with its name and the classes whose gates use it;
- :func:`plot_gate_matrix`: the class × concept gate matrix (C2MF's σ(λ); for per-class
  dictionaries, any class-concept usage matrix such as the mean code per class);
- :func:`concept_usage`: which classes use a concept (the recipes per class in Markdown are the
  report layer's: :func:`jaxconcepts.report.recipe_table`).

Figures are :class:`matplotlib.figure.Figure` objects built without pyplot (save them with
:func:`jaxconcepts.viz.save_png`); nothing here computes concepts.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

__all__ = ["top_images", "concept_usage", "plot_concept_atlas", "plot_gate_matrix"]


def _check_gates(gates, class_names=None):
    g = np.asarray(gates, np.float64)
    if g.ndim != 2:
        raise ValueError(f"gates should have shape (n_classes, k), got {g.shape}")
    if class_names is not None and len(class_names) != g.shape[0]:
        raise ValueError(f"class_names has {len(class_names)} entries, gates has "
                         f"{g.shape[0]} classes")
    return g


def top_images(code_maps, *, top: int, score: str = "max") -> np.ndarray:
    """``(k, top)`` images with the highest code per concept (ties: lower index first).

    Args:
        code_maps: ``(N, k, h, w)`` each image's spatial code map per concept.
        top: images per concept (capped at N).
        score: ``"max"`` (strongest position) or ``"mean"`` (average over positions).
    """
    m = np.asarray(code_maps, np.float64)
    if m.ndim != 4:
        raise ValueError(f"code_maps should have shape (N, k, h, w), got {m.shape}")
    if score not in ("max", "mean"):
        raise ValueError(f"score={score!r}; valid choices: 'max', 'mean'")
    if top < 1:
        raise ValueError(f"top={top} should be >= 1")
    s = m.reshape(*m.shape[:2], -1)
    s = s.max(-1) if score == "max" else s.mean(-1)  # (N, k)
    return np.argsort(-s, axis=0, kind="stable")[: min(top, m.shape[0])].T.copy()


def concept_usage(gates, class_names: Sequence[str], *, threshold: float) -> list[list[tuple]]:
    """Per concept, ``[(class name, gate)]`` of the classes with gate ≥ threshold, largest first."""
    g = _check_gates(gates, class_names)
    out = []
    for j in range(g.shape[1]):
        cls = [c for c in np.argsort(-g[:, j], kind="stable") if g[c, j] >= threshold]
        out.append([(str(class_names[c]), float(g[c, j])) for c in cls])
    return out


def _to_gray(img):
    x = np.asarray(img, np.float32)
    if x.max(initial=0) > 1.0:
        x = x / 255.0
    return x.mean(-1) if x.ndim == 3 else x


def _upsample(m, size):
    """Bilinear (half-pixel centres) upsampling of one (h, w) map to size (H, W)."""
    h, w = m.shape
    H, W = size
    ys = np.clip((np.arange(H) + 0.5) * h / H - 0.5, 0, h - 1)
    xs = np.clip((np.arange(W) + 0.5) * w / W - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = m[y0][:, x0] * (1 - fx) + m[y0][:, x1] * fx
    bot = m[y1][:, x0] * (1 - fx) + m[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def plot_concept_atlas(
    images,
    code_maps,
    *,
    top: int,
    names: Sequence[str] | None = None,
    gates=None,
    class_names: Sequence[str] | None = None,
    gate_threshold: float = 0.5,
    concepts: Sequence[int] | None = None,
    image_ids: Sequence[int] | None = None,
    title: str = "",
) -> Figure:
    """One row per concept: its ``top`` images with the code map over them (hot colour map).

    Args:
        images: ``(N, H, W, 3)`` or ``(N, H, W)`` images (float in [0, 1] or uint8), as the model
            saw them.
        code_maps: ``(N, k, h, w)`` codes per concept at each spatial position.
        top: images per concept.
        names: k concept names (e.g. from :func:`jaxconcepts.evaluation.name_concepts`).
        gates, class_names: ``(n_classes, k)`` usage matrix and class names; the row title lists
            the classes with gate >= ``gate_threshold``.
        concepts: which concepts to draw, in order (default all).
        image_ids: N ids shown in the panel titles (default: the position in ``images``).

    Each map is min-max normalised over the concept's shown images (one scale per row, so
    intensities compare across the row); the panel title is the image's peak code.
    """
    ims = np.asarray(images)
    m = np.asarray(code_maps, np.float64)
    if ims.ndim not in (3, 4) or m.ndim != 4 or ims.shape[0] != m.shape[0]:
        raise ValueError(f"images (N, H, W[, 3]) and code_maps (N, k, h, w) disagree: "
                         f"{ims.shape} vs {m.shape}")
    k = m.shape[1]
    if names is not None and len(names) != k:
        raise ValueError(f"names has {len(names)} entries, code_maps has k={k} concepts")
    usage = None
    if gates is not None:
        if class_names is None:
            raise ValueError("gates given without class_names")
        if np.shape(gates)[1] != k:
            raise ValueError(f"gates has {np.shape(gates)[1]} concepts, code_maps has k={k}")
        usage = concept_usage(gates, class_names, threshold=gate_threshold)
    sel = list(range(k)) if concepts is None else [int(c) for c in concepts]
    if any(not 0 <= c < k for c in sel) or not sel:
        raise ValueError(f"concepts={sel} should be a non-empty list of indices in [0, {k})")
    idx = top_images(m, top=top)
    n_col = idx.shape[1]
    size = ims.shape[1:3]
    fig = Figure(figsize=(1.5 * n_col + 0.2, 1.75 * len(sel) + 0.4))
    axes = fig.subplots(len(sel), n_col, squeeze=False)
    hot = matplotlib.colormaps["hot"]
    for r, j in enumerate(sel):
        row = m[idx[j], j]  # (top, h, w)
        lo, hi = float(row.min()), float(row.max())
        head = f"C{j}" + (f" {names[j]}" if names is not None else "")
        if usage is not None:
            used = ", ".join(f"{c} {g:.2f}" for c, g in usage[j][:4]) or "no class"
            more = f" +{len(usage[j]) - 4}" if len(usage[j]) > 4 else ""
            head += f" | used by: {used}{more}"
        for c in range(n_col):
            ax = axes[r, c]
            i = int(idx[j, c])
            mm = (_upsample(m[i, j], size) - lo) / (hi - lo) if hi > lo else np.zeros(size)
            ax.imshow(hot(_to_gray(ims[i]) * np.clip(mm, 0, 1))[..., :3], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            shown = i if image_ids is None else int(image_ids[i])
            ax.set_title(f"#{shown} {m[i, j].max():.2g}", fontsize=7)
        axes[r, 0].set_ylabel(f"C{j}", fontsize=8)
        axes[r, 0].text(0, 1.28, head, transform=axes[r, 0].transAxes, fontsize=8, va="bottom")
    fig.subplots_adjust(left=0.03, right=0.99, bottom=0.02,
                        top=1 - (0.75 if title else 0.45) / fig.get_figheight(),
                        hspace=0.75, wspace=0.05)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.08 / fig.get_figheight(), va="top")
    return fig


def plot_gate_matrix(gates, class_names: Sequence[str], *, concept_names: Sequence[str] | None
                     = None, title: str = "", annotate: bool | None = None) -> Figure:
    """Heatmap of the ``(n_classes, k)`` gate matrix (rows classes, columns concepts, 0-1 scale)."""
    g = _check_gates(gates, class_names)
    Y, k = g.shape
    if concept_names is not None and len(concept_names) != k:
        raise ValueError(f"concept_names has {len(concept_names)} entries, gates has k={k}")
    fig = Figure(figsize=(min(0.35 * k + 2.5, 18), min(0.3 * Y + 1.5, 14)))
    ax = fig.subplots()
    im = ax.imshow(g, vmin=0.0, vmax=max(1.0, float(g.max())), cmap="viridis", aspect="auto",
                   interpolation="nearest")
    ax.set_yticks(range(Y), [str(c) for c in class_names], fontsize=7)
    labels = concept_names if concept_names is not None else [f"C{j}" for j in range(k)]
    ax.set_xticks(range(k), labels, fontsize=7, rotation=90)
    ax.set_xlabel("concept")
    ax.set_ylabel("class")
    if annotate if annotate is not None else Y * k <= 200:
        for y in range(Y):
            for j in range(k):
                ax.text(j, y, f"{g[y, j]:.2f}", ha="center", va="center", fontsize=5,
                        color="w" if g[y, j] < 0.5 else "k")
    fig.colorbar(im, ax=ax, fraction=0.04, label="gate σ(λ)")
    if title:
        ax.set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.2, bottom=0.2, right=0.95, top=0.92)
    return fig
