"""The ``recovery`` stage's page (``recovery.md``): the recovery table of every source, the
claims against the random baseline with their intervals, the paired baseline comparison with the
explanation of the importance AUROC (docs/PAPERS_FINDINGS.md §1) filled with the run's numbers,
and (objects) whether the backbone recognises the objects. From the outputs of
:func:`jaxconcepts.evaluation.run_recovery` and
:func:`jaxconcepts.evaluation._recognition.recognition` (as saved in ``recovery.json``)."""

from __future__ import annotations

from jaxconcepts.report._format import MISSING, interval, num, pm, table
from jaxconcepts.report._render import render

__all__ = ["recovery_markdown", "baseline_lines", "claims_lines", "recognition_markdown"]

_CLAIMS = {
    "pointing": "pointing game: some concept's argmax on each part (object)",
    "iou": "IoU of the best concept map with each part (object) mask",
    "top_defining": "the most important concept (Eq. 3) is a defining one",
}


def _lines(text: str) -> list[str]:
    return text.split("\n")[:-1]


def claims_lines(baseline: dict) -> list[str]:
    """Each method against its random grouping of the same sizes, per claim: both means with
    their 95 % bootstrap intervals over images, the paired difference's interval and the verdict
    (holds only when that interval excludes 0 from above), as Markdown lines."""
    rows = [(src, f, d["claims"][f]) for src, d in baseline.items() if d.get("claims")
            for f in d["claims"]]
    if not rows:
        return []
    cells = [[src, _CLAIMS.get(f, f), interval(c["method"]), interval(c["baseline"]),
              f"{interval(c['difference'], '+.3f')} ({c['difference']['n']})",
              f"**{c['difference']['verdict']}**"] for src, f, c in rows]
    return _lines(render("recovery_claims.md.j2", table=table(
        ["source", "claim", "source [95 % CI]", "baseline [95 % CI]",
         "paired difference [95 % CI] (images)", "verdict"], cells)))


def baseline_lines(baseline: dict, n_images: int) -> list[str]:
    """The paired comparison of each method with its random baseline, and what it means (with
    the numbers of this run), as Markdown lines."""
    if not baseline:
        return []
    rows = [[src, f"{num(d['method'])} ({d['n_method']})", d["baseline"],
             f"{pm(d['baseline_mean'], d['baseline_std'])} ({num(d['n_baseline'], '.0f')})",
             f"{pm(d['paired_diff'], d['paired_diff_std'], '+.3f', std_spec='.3f')} "
             f"({num(d['paired_n'], '.0f')})",
             f"{num(d['size_auroc_method'])} / {num(d['size_auroc_baseline'])}"]
            for src, d in baseline.items()]
    selected = next(((src, d) for src, d in baseline.items() if d["n_baseline"] and n_images),
                    None)
    return _lines(render(
        "recovery_baseline.md.j2", n_seeds=next(iter(baseline.values()))["n_seeds"],
        n_images=n_images, selected=selected, baseline=baseline,
        worst=max(baseline.values(), key=lambda d: d["baseline_std"] or 0.0),
        subs=[(src, d) for src, d in baseline.items() if src.endswith("_sub")], pm=pm,
        table=table(["source", "importance AUROC (images)", "baseline",
                     "baseline AUROC, mean ± std over seeds (images per seed)",
                     "paired: source − baseline (images both define)",
                     "size-only AUROC: source / baseline"], rows)))


def recovery_markdown(summaries: dict, cfg: dict, dataset: str,
                      baseline: dict | None = None) -> str:
    """The recovery table (one row per source) with a legend of the scores and thresholds, the
    claims and the paired baseline comparison (:func:`baseline_lines`) when ``baseline`` is
    given."""
    rows = []
    for name, s in summaries.items():
        imp = s["importance"]
        bc = imp["by_category"]
        rows.append([name, num(s["pointing"]), num(s["iou"]), num(s["auroc"]),
                     f"{s['parts_found']}/{s['parts_present']}", num(imp["auroc"]),
                     num(imp.get("size_auroc")), num(imp["spearman"]),
                     " / ".join(num(bc[c]["mean_importance"], ".1f")
                                for c in ("defining", "distractor", "background"))])
    n = next(iter(summaries.values()))
    text = render("recovery.md.j2", dataset=dataset, n=n, cfg=cfg,
                  found_fraction=num(cfg["found_fraction"], ".0%"),
                  table=table(["source", "pointing", "IoU", "AUROC", "parts found",
                               "importance AUROC (defining vs other)", "size-only AUROC",
                               "Spearman (importance, defining mass)",
                               "mean I: defining / distractor / background"], rows))
    lines = _lines(text)
    lines += claims_lines(baseline or {})
    lines += baseline_lines(baseline or {}, int(n["n_images"]))
    return "\n".join(lines)


def recognition_markdown(rows: list[dict], *, dataset: str, model: str) -> str:
    """The per-class recognition table (with intervals) of
    :func:`jaxconcepts.evaluation._recognition.recognition` as Markdown."""
    top = rows[0]["top"] if rows else 5
    cells = [[r["class"], r["n_images"], ", ".join(r["wnids"]) or MISSING, interval(r["top1"]),
              interval(r[f"top{top}"]), ", ".join(f"{a} ({n})" for a, n in r["answers"]),
              r["status"]] for r in rows]
    return render("recognition.md.j2", dataset=dataset, model=model, top=top, table=table(
        ["class", "images", "accepted synsets", "top-1 [95 % CI]", f"top-{top} [95 % CI]",
         "most frequent top-1 answers", "status"], cells)).removesuffix("\n")
