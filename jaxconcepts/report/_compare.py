"""The ``compare`` stage's page (``compare.md``): Lambert et al.'s Tables 1 and 2 with the
paper's values beside ours, which of the paper's findings hold, the paired k-means claims and
Fig. 2, from the results of :func:`jaxconcepts.evaluation.run_compare` (as saved in
``compare.json``)."""

from __future__ import annotations

from typing import Any

from jaxconcepts.report._format import interval, num, table
from jaxconcepts.report._render import render

__all__ = ["PAPER", "compare_markdown"]

METRICS = ("ss", "chi", "dbi")
#: Table 1 and Table 2 of the paper (ResNet-50 NF, ImageNet, 11 classes), printed beside ours.
PAPER = {
    "table1": {
        "cgap": {"agglomerative": [0.61, 398.70, 1.00, 0.14], "birch": [0.62, 398.14, 0.97, 0.22],
                 "gmm": [-0.03, 111.39, 1.84, 0.73], "kmeans": [0.64, 441.05, 0.97, 0.20]},
        "cpha": {"agglomerative": [0.41, 892.39, 0.84, 0.14], "birch": [0.37, 724.83, 0.90, 0.22],
                 "gmm": [0.32, 564.51, 1.41, 0.73], "kmeans": [0.43, 948.69, 0.84, 0.20]},
    },
    "table2": {
        "cgap": {"3": [0.75, 966.00, 0.72], "5": [0.64, 441.05, 0.97], "7": [0.57, 288.34, 1.10],
                 "9": [0.52, 218.93, 1.17]},
        "cpha": {"3": [0.43, 900.18, 0.85], "5": [0.43, 948.69, 0.84], "7": [0.44, 979.13, 0.83],
                 "9": [0.46, 1018.18, 0.81]},
    },
}
_NAMES = {"kmeans": "k-means (ours, JAX)", "agglomerative": "Agglomerative", "birch": "Birch",
          "gmm": "GMM"}
_CLAIMS = {
    "kmeans_best_ss": "k-means has the best SS", "kmeans_best_chi": "k-means has the best CHI",
    "kmeans_best_dbi": "k-means has the best DBI", "gmm_worst_all_metrics": "GMM is worst",
    "agglomerative_fastest_sklearn": "Agglomerative is the fastest scikit-learn algorithm",
    "gmm_slowest_sklearn": "GMM is the slowest",
    "cpha_higher_chi_than_cgap": "CPHA has a higher CHI than CGAP (k-means)",
    "cpha_lower_dbi_than_cgap": "CPHA has a lower DBI than CGAP (k-means)",
    "cpha_lower_ss_than_cgap": "CPHA has a lower SS than CGAP (k-means)",
    "cgap_ss_decreases_with_n": "CGAP: SS decreases as N grows",
    "cgap_chi_decreases_with_n": "CGAP: CHI decreases as N grows",
    "cpha_ss_increases_with_n": "CPHA: SS increases as N grows",
    "cpha_chi_increases_with_n": "CPHA: CHI increases as N grows",
}


def _fmt(v, nd=2):
    return num(v, f".{nd}f", missing="n/a")


def _claim(key: str) -> str:
    m, rest = key[:4], key[5:]
    if key in _CLAIMS or rest not in _CLAIMS:
        return _CLAIMS.get(key, key)
    return f"{m.upper()}: {_CLAIMS[rest]}"


def compare_markdown(res: dict[str, Any], dataset: str, *, figure: str | None = None) -> str:
    """The tables, the paper's values beside ours, which findings hold, and Fig. 2 (``figure``:
    the per-label boxplots' file, relative to the Markdown file) when given."""
    t1 = []
    for m in ("cgap", "cpha"):
        for a, row in res["table1"][m].items():
            p = PAPER["table1"][m].get(a, [None] * 4)
            t1.append([m.upper(), _NAMES[a], f"{_fmt(row['ss'])} ({_fmt(p[0])})",
                       f"{_fmt(row['chi'])} ({_fmt(p[1])})", f"{_fmt(row['dbi'])} ({_fmt(p[2])})",
                       f"{_fmt(row['seconds_per_image'], 4)} ({_fmt(p[3])})"])
    t2 = []
    for m in ("cgap", "cpha"):
        for k, row in sorted(res["table2"][m].items(), key=lambda kv: int(kv[0])):
            p = PAPER["table2"][m].get(k, [None] * 3)
            t2.append([m.upper(), k, f"{_fmt(row['ss'])} ({_fmt(p[0])})",
                       f"{_fmt(row['chi'])} ({_fmt(p[1])})", f"{_fmt(row['dbi'])} ({_fmt(p[2])})"])
    findings = [(_claim(key), "n/a" if ok is None else ("holds" if ok else "**does not hold**"))
                for key, ok in res["findings"].items()]
    claims = [[m.upper(), algo, *(f"{interval(per_met[met], '+.3g')} {per_met[met]['verdict']}"
                                  for met in METRICS)]
              for m, per_algo in (res.get("claims") or {}).items()
              for algo, per_met in per_algo.items()]
    return render(
        "compare.md.j2", dataset=dataset, res=res, figure=figure, findings=findings,
        table1=table(["Method", "Algorithm", "SS", "CHI", "DBI", "s / image"], t1),
        table2=table(["Method", "N", "SS", "CHI", "DBI"], t2),
        claims=table(["Method", "k-means vs", "SS", "CHI", "DBI"], claims) if claims else "")
