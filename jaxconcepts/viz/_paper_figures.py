"""Paper figures that were missing: C2MF App. C Fig. 5, the α sweep, Lambert et al. Fig. 2.

- :func:`plot_confidence_histograms`: MSP of complete images vs CRAFT's crops, one panel per
  dataset, with μ of each and Δμ (C2MF App. C, Fig. 5);
- :func:`plot_alpha_sweep`: gate sparsity and reconstruction against α;
- :func:`plot_cluster_boxplots`: per-label boxplots of SS, CHI and DBI for the clustering
  algorithms, one row per method (CGAP, CPHA) — Fig. 2 of Lambert et al.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot; inputs are plain
arrays or records, nothing is computed beyond what is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_confidence_histograms", "plot_alpha_sweep", "plot_cluster_boxplots",
           "long_columns"]

#: the paper's colours for Fig. 2 (Agglomerative pink, Birch blue, GMM green, k-means purple)
ALGO_COLORS = {"agglomerative": "#f4a6c6", "birch": "#8fb8e8", "gmm": "#9fd89f",
               "kmeans": "#b99ae0"}


def plot_confidence_histograms(studies: Mapping[str, object], *, bins: int = 20,
                               title: str = "") -> Figure:
    """One panel per dataset: densities of MSP on complete images and on crops.

    Args:
        studies: dataset name -> :class:`jaxconcepts.evaluation.ConfidenceStudy` (anything with
            ``conf_full``, ``conf_crops``, ``mu_full``, ``mu_crops``, ``delta_mu``, ``metrics``).
        bins: histogram bins over [0, 1].
    """
    if not studies:
        raise ValueError("studies is empty: nothing to plot")
    n = len(studies)
    fig = Figure(figsize=(3.6 * n + 0.4, 3.0))
    axes = fig.subplots(1, n, squeeze=False)[0]
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, (name, s) in zip(axes, studies.items()):
        ax.hist(np.asarray(s.conf_full), bins=edges, density=True, alpha=0.55, color="C0",
                label=f"complete images (μ={s.mu_full:.2f})")
        ax.hist(np.asarray(s.conf_crops), bins=edges, density=True, alpha=0.55, color="C3",
                label=f"crops (μ={s.mu_crops:.2f})")
        ax.axvline(s.mu_full, color="C0", lw=1, ls="--")
        ax.axvline(s.mu_crops, color="C3", lw=1, ls="--")
        ax.set_title(f"{name}: Δμ={s.delta_mu:.2f}, AUROC={s.metrics['auroc']:.2f}", fontsize=9)
        ax.set_xlabel("max softmax probability")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("density")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.85, wspace=0.25)
    return fig


def plot_alpha_sweep(rows: Sequence[Mapping], *, title: str = "") -> Figure:
    """Three panels against α: gate sparsity, accuracy of h on reconstructions, relative MSE.

    Args:
        rows: :func:`jaxconcepts.evaluation.alpha_sweep` output (one dict per α).
    """
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    r = sorted(rows, key=lambda d: d["alpha"])
    a = np.array([d["alpha"] for d in r], np.float64)
    pos = a[a > 0]
    # α = 0 is drawn one decade left of the smallest positive α on a log axis
    x = np.where(a > 0, a, (pos.min() / 10) if pos.size else 1.0)
    fig = Figure(figsize=(11, 3.1))
    ax1, ax2, ax3 = fig.subplots(1, 3)

    def col(key):
        return np.array([d.get(key, np.nan) for d in r], np.float64)

    ax1.plot(x, col("frac_open"), "o-", label="open gates (fraction)")
    ax1.plot(x, col("mean_gate"), "s--", label="mean gate")
    ax1b = ax1.twinx()
    ax1b.plot(x, col("concepts_per_class"), "^:", color="C2", label="concepts / class")
    ax1b.set_ylabel("concepts per class", color="C2")
    ax1.set_ylim(-0.02, 1.02)
    ax1.set_title("gate sparsity", fontsize=9)
    ax1.legend(fontsize=7, loc="lower left")
    ax2.plot(x, col("acc_pred"), "o-", label="all gates (pred)")
    ax2.plot(x, col("acc_pred_open_only"), "s--", label="open gates only (pred)")
    if np.isfinite(col("acc_label")).any():
        ax2.plot(x, col("acc_label"), "^:", label="all gates (label)")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_title("accuracy of h on the reconstruction", fontsize=9)
    ax2.legend(fontsize=7, loc="lower left")
    ax3.plot(x, col("rel_mse"), "o-", label="all gates")
    ax3.plot(x, col("rel_mse_open_only"), "s--", label="open gates only")
    ax3.set_title("relative test MSE", fontsize=9)
    ax3.legend(fontsize=7)
    for ax in (ax1, ax2, ax3):
        if pos.size:
            ax.set_xscale("log")
        ax.set_xlabel("α" + (" (α = 0 drawn at the left end)" if (a == 0).any() else ""))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.17, top=0.85, wspace=0.35)
    return fig


def long_columns(table, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of a long-format table: a list of records, a dict of columns or a DataFrame."""
    if isinstance(table, (list, tuple)):
        if not table:
            raise ValueError("table is empty")
        cols = {c: np.asarray([rec[c] for rec in table]) for c in columns if c in table[0]}
    else:
        cols = {c: np.asarray(table[c]) for c in columns if c in table}
    missing = [c for c in columns if c not in cols]
    if missing:
        raise ValueError(f"table is missing columns {missing}; expected {list(columns)}")
    n = {len(v) for v in cols.values()}
    if len(n) != 1:
        raise ValueError(f"table columns have different lengths {sorted(n)}")
    return cols


def plot_cluster_boxplots(
    table,
    *,
    methods: Sequence[str] = ("cgap", "cpha"),
    algorithms: Sequence[str] = ("agglomerative", "birch", "gmm", "kmeans"),
    metrics: Sequence[str] = ("ss", "chi", "dbi"),
    label_names: Mapping | None = None,
    title: str = "",
) -> Figure:
    """Lambert et al. Fig. 2: rows = methods, columns = metrics; per label (y axis) one horizontal
    box per algorithm (25th-75th percentile box, whiskers at the extremes as in the paper).

    Args:
        table: long format, one entry per (image, method, algorithm) with columns ``method``,
            ``algorithm``, ``label`` and one column per metric (``ss``, ``chi``, ``dbi``); NaN
            metric values (undefined for that image) are left out.
        label_names: label -> display name.
    """
    cols = long_columns(table, ["method", "algorithm", "label", *metrics])
    meth, algo = cols["method"].astype(str), cols["algorithm"].astype(str)
    lab = cols["label"]
    labels = sorted(set(lab.tolist()), key=lambda v: (str(type(v)), v))
    present_m = [m for m in methods if (meth == m).any()]
    present_a = [a for a in algorithms if (algo == a).any()]
    if not present_m or not present_a:
        raise ValueError(f"no rows for methods {list(methods)} x algorithms {list(algorithms)} "
                         f"(table has methods {sorted(set(meth))}, algorithms {sorted(set(algo))})")
    nl, na = len(labels), len(present_a)
    fig = Figure(figsize=(3.2 * len(metrics) + 2.4, (0.16 * nl * na + 0.8) * len(present_m)))
    axes = fig.subplots(len(present_m), len(metrics), squeeze=False, sharey=True)
    width = 0.8 / na
    names = label_names or {}
    for i, m in enumerate(present_m):
        for j, met in enumerate(metrics):
            ax = axes[i, j]
            for t, a in enumerate(present_a):
                data, posn = [], []
                for li, lv in enumerate(labels):
                    v = cols[met][(meth == m) & (algo == a) & (lab == lv)].astype(np.float64)
                    v = v[np.isfinite(v)]
                    if v.size:
                        data.append(v)
                        posn.append(li + (t - (na - 1) / 2) * width)
                if not data:
                    continue
                kw = dict(positions=posn, widths=width * 0.9, whis=(0, 100), patch_artist=True,
                          manage_ticks=False)
                try:  # matplotlib >= 3.10
                    bp = ax.boxplot(data, orientation="horizontal", **kw)
                except TypeError:  # older: the deprecated spelling
                    bp = ax.boxplot(data, vert=False, **kw)
                for box in bp["boxes"]:
                    box.set_facecolor(ALGO_COLORS.get(a, f"C{t}"))
                    box.set_linewidth(0.6)
                ax.plot([], [], "s", color=ALGO_COLORS.get(a, f"C{t}"), label=a)
            ax.set_yticks(range(nl), [str(names.get(lv, lv)) for lv in labels], fontsize=7)
            ax.tick_params(axis="y", labelleft=j == 0)
            ax.set_ylim(-0.6, nl - 0.4)
            ax.set_xlabel(met.upper(), fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
            if j == 0:
                ax.set_ylabel(m.upper(), fontsize=9)
    axes[0, -1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=2.0 / fig.get_figwidth(), right=0.98, bottom=0.08, top=0.92,
                        wspace=0.08, hspace=0.25)
    return fig
