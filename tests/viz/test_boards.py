"""The scoreboard's figures (jaxconcepts.viz._boards)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from jaxconcepts.viz._boards import board_label, ground_figure


def test_board_label_marks_streamed_saes_only():
    assert board_label({"method": "topk", "path": "streamed"}) == "topk (streamed)"
    assert board_label({"method": "topk", "path": "in_memory"}) == "topk"
    assert board_label({"method": "c2mf", "path": "streamed"}) == "c2mf"  # always streamed
    assert board_label({"method": "pca", "path": "streamed"}) == "pca"


def test_ground_figure_draws_the_reached_rows_and_their_random_counterparts(tmp_path):
    def row(method, r2, iou):
        return {"method": method, "r2": r2, "mean_best_iou": iou,
                "random": {"r2": 0.1, "mean_best_iou": 0.05}}

    rows = [row("topk", 0.7, 0.3), row("topk", 0.9, 0.35), row("pca", None, None)]
    ground_figure(rows, tmp_path / "g.png", "planted ground")
    img = np.asarray(Image.open(tmp_path / "g.png").convert("RGB"))
    assert img.shape[0] > 300 and img.shape[1] > 500
    # the first method's colour (matplotlib's C0, #1f77b4) is drawn
    assert np.any(np.all(np.abs(img.astype(int) - [31, 119, 180]) < 8, axis=-1))
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, nothing left beside it
