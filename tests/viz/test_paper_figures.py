"""Paper figures: the panels, labels and boxes drawn match the inputs."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxconcepts.evaluation.ood._confidence import confidence_study
from jaxconcepts.viz._paper_figures import (
    long_columns,
    plot_alpha_sweep,
    plot_cluster_boxplots,
    plot_confidence_histograms,
)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=30)
    return buf.getvalue()[:4] == b"\x89PNG"


def test_confidence_histograms():
    rng = np.random.default_rng(0)
    s = confidence_study(rng.normal(size=(10, 4)) * 3, rng.normal(size=(10, 3, 4)))
    fig = plot_confidence_histograms({"a": s, "b": s})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert f"Δμ={s.delta_mu:.2f}" in fig.axes[0].get_title()
    assert _png(fig)
    with pytest.raises(ValueError, match="empty"):
        plot_confidence_histograms({})


def test_alpha_sweep_figure():
    rows = [{"alpha": a, "frac_open": f, "mean_gate": f, "concepts_per_class": 4 * f,
             "acc_pred": 1.0, "acc_pred_open_only": f, "acc_label": np.nan, "rel_mse": 0.1,
             "rel_mse_open_only": 1 - f} for a, f in ((0.0, 1.0), (1.0, 0.5), (10.0, 0.25))]
    fig = plot_alpha_sweep(rows)
    assert len(fig.axes) == 4  # three panels + the twin axis
    assert fig.axes[0].get_xscale() == "log"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1.0, 0.5, 0.25])
    assert _png(fig)


def test_cluster_boxplots_records_and_columns():
    rng = np.random.default_rng(0)
    recs = []
    for m in ("cgap", "cpha"):
        for a in ("kmeans", "gmm"):
            for lab in (3, 7):
                for _ in range(5):
                    recs.append({"method": m, "algorithm": a, "label": lab, "ss": rng.uniform(),
                                 "chi": rng.uniform(0, 50), "dbi": rng.uniform(0, 2)})
    recs[0]["ss"] = float("nan")
    fig = plot_cluster_boxplots(recs, label_names={3: "cat", 7: "dog"})
    assert len(fig.axes) == 6
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog"]
    assert ax.get_ylabel() == "CGAP" and fig.axes[3].get_ylabel() == "CPHA"
    assert len([p for p in ax.patches]) == 4  # 2 algorithms x 2 labels
    assert _png(fig)
    cols = {k: [r[k] for r in recs] for k in recs[0]}
    assert len(plot_cluster_boxplots(cols).axes) == 6
    with pytest.raises(ValueError, match="missing columns"):
        long_columns([{"method": "cgap"}], ["method", "label"])
    with pytest.raises(ValueError, match="no rows"):
        plot_cluster_boxplots(recs, methods=("pca",))
