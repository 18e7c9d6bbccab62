"""``viz/_c2mf_figures.py``: Figs. 2–4 of the C2MF paper from the stage's metrics."""

import numpy as np
import pytest

from jaxconcepts.viz._c2mf_figures import c2mf_figures, plot_ablation, plot_insertion_deletion

PNG = b"\x89PNG\r\n\x1a\n"


def _entry(auc, k_used=None):
    d = {f"{c}_{r}_{s}": ([0.0, auc, 1.0] if s == "curve" else auc)
         for c in ("insertion", "deletion") for r in ("gradcam", "ig") for s in ("curve", "mean")}
    return {"insertion_deletion": d} | ({"k_used": k_used} if k_used else {})


RESULTS = {"c2mf": {"k10": _entry(0.5), "k2": _entry(0.25, k_used=2)},
           "craft": {"k2": _entry(0.125), "k10": {"insertion_deletion": {}}}}


def test_insertion_deletion_layout_and_legend():
    fig = plot_insertion_deletion(RESULTS, "gradcam")
    assert len(fig.axes) == 4  # 2 rows × 2 k, k sorted numerically
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["insertion, k = 2", "insertion, k = 10", "deletion, k = 2",
                      "deletion, k = 10"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["Ours (C2MF) (0.250)", "CRAFT (0.125)"]
    assert len(fig.axes[1].lines) == 1  # craft has no curve at k = 10
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), [0.0, 0.5, 1.0])
    assert fig.texts[0].get_text() == "Concept insertion / deletion, ranked by Grad-CAM"


def test_insertion_deletion_without_results():
    with pytest.raises(ValueError, match="no results"):
        plot_insertion_deletion({}, "ig")


def test_ablation_lines():
    abl = {"n_concepts": [1, 2, 3], "n_classes": 2, "c2mf": [0.5, None, 1.0],
           "pca_clustered": [0.1, 0.2, 0.3]}
    fig = plot_ablation(abl, title="t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines[:2]] == ["Ours (C2MF)", "PCA (clustered)"]
    y = ax.lines[0].get_ydata()
    assert y[0] == 50.0 and np.isnan(y[1]) and y[2] == 100.0
    assert ax.get_title() == "t"


def test_c2mf_figures_writes_pngs(tmp_path):
    abl = {"n_concepts": [1, 2], "c2mf": [0.5, 0.75]}
    files = c2mf_figures({"dataset": "toy", "results": RESULTS, "ablation": abl}, tmp_path)
    assert files == {"fig2": "fig2_insertion_deletion_gradcam.png",
                     "fig3": "fig3_insertion_deletion_ig.png", "fig4": "fig4_ablation.png"}
    for name in files.values():
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert not (tmp_path / "NONE.txt").exists()


def test_c2mf_figures_nothing_fitted_says_why(tmp_path):
    assert c2mf_figures({"note": "too few classes"}, tmp_path) == {}
    assert "(too few classes)" in (tmp_path / "NONE.txt").read_text()
    assert not list(tmp_path.glob("*.png"))
