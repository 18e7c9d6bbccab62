"""The scoreboard's figures (issue 24): explained variance against recovery, one point per
method and setting, on the synthetic ground (:func:`scoreboard_figure`, MCC against the true
atoms) and on an image ground (:func:`ground_figure`, mean best IoU with a part or object mask,
each method's random counterpart beside it)."""

from __future__ import annotations

from pathlib import Path

from jaxconcepts.viz._figures import save_png

__all__ = ["board_label", "ground_figure", "scoreboard_figure"]


def board_label(row: dict) -> str:
    """A synthetic scoreboard row's method, marked ``(streamed)`` for the SAEs fitted a second
    time from the store (C2MF and PCA always stream: no mark)."""
    return row["method"] + (" (streamed)" if row["path"] == "streamed" and row["method"] not in
                            ("c2mf", "pca") else "")


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    save_png(fig, path, dpi=90)


def scoreboard_figure(rows: list[dict], path: Path) -> None:
    """R² against MCC of the synthetic scoreboard's reached rows, a line per method (the
    streamed fits hollow and dashed, so the in-memory line under them stays visible)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.8, 4.4))
    ax = fig.subplots()
    shown = dict.fromkeys(board_label(r) for r in rows if r["reached"])  # a colour each (<= 10)
    for i, m in enumerate(shown):
        pts = [r for r in rows if board_label(r) == m and r["reached"]]
        streamed = "(streamed)" in m
        ax.plot([r["r2"] for r in pts], [r["mcc"] for r in pts], marker="os^vDP<>Xh*"[i % 11],
                linestyle="--" if streamed else "-", label=m, color=f"C{i % 10}",
                markerfacecolor="none" if streamed else None, markersize=9 if streamed else 6)
    ax.set_xlabel("explained variance R² (matched to each target)")
    ax.set_ylabel("MCC against the true atoms")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Synthetic ground: recovery at matched R²", fontsize=10)
    _save(fig, path)


def ground_figure(rows: list[dict], path: Path, title: str) -> None:
    """R² of the test rows against the mean best IoU with a part / object mask, a line per
    method, and its random counterpart as an ``x`` of the same colour."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for i, m in enumerate(dict.fromkeys(r["method"] for r in rows)):
        pts = [r for r in rows if r["method"] == m and r["r2"] is not None]
        if pts:
            ax.plot([r["r2"] for r in pts], [r["mean_best_iou"] for r in pts],
                    marker="os^vDP<>*"[i % 9], linestyle="-", label=m, color=f"C{i % 10}")
            ax.scatter([r["random"]["r2"] for r in pts],
                       [r["random"]["mean_best_iou"] for r in pts], marker="x",
                       color=f"C{i % 10}", alpha=0.6)
    ax.set_xlabel("R² of the test rows (x: the method's random counterpart)")
    ax.set_ylabel("mean best IoU with a part / object mask")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    _save(fig, path)
