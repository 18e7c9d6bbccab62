"""The ``c2mf`` stage's concept atlas page (``c2mf_atlas.md``): per method its figures, the drawn
concepts with their names and the classes using them, the recipes per class and (objects) the
name accuracy; and the naming table of :func:`jaxconcepts.evaluation.name_concepts`.

The atlases are :class:`jaxconcepts.evaluation.c2mf._atlas.AtlasData` (read by attribute: method,
k, usage (Y, G), labels, names, order, class_names); the name accuracy is the dict of
:func:`jaxconcepts.evaluation.c2mf._atlas.objects_name_accuracy` (as saved in ``c2mf.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from jaxconcepts.report._c2mf import SAE_NAMES
from jaxconcepts.report._format import MISSING, num, table
from jaxconcepts.report._render import render

__all__ = ["atlas_markdown", "name_accuracy_markdown", "naming_table", "recipe_table"]

_TITLES = {"c2mf": "C2MF (shared dictionary, gated)", "craft": "CRAFT (per-class NMF)",
           "pca": "PCA (per class)",
           **{m: f"{n} (shared dictionary, no gates)" for m, n in SAE_NAMES.items()}}


def _words(words) -> str:
    return ", ".join(f"{w} ({num(s, '.2f')})" for w, s in words)


def recipe_table(gates, class_names: Sequence[str], *, threshold: float,
                 names: Sequence[str] | None = None) -> str:
    """Markdown: per class, the concepts its gate opens (>= ``threshold``), largest first."""
    g = np.asarray(gates, np.float64)
    if g.ndim != 2:
        raise ValueError(f"gates should have shape (n_classes, k), got {g.shape}")
    if len(class_names) != g.shape[0]:
        raise ValueError(f"class_names has {len(class_names)} entries, gates has "
                         f"{g.shape[0]} classes")
    k = g.shape[1]
    if names is not None and len(names) != k:
        raise ValueError(f"names has {len(names)} entries, gates has k={k}")
    rows = []
    for y, cname in enumerate(class_names):
        order = [j for j in np.argsort(-g[y], kind="stable") if g[y, j] >= threshold]
        recipe = ", ".join(f"C{j}" + (f" {names[j]}" if names is not None else "")
                           + f" ({num(g[y, j], '.2f')})" for j in order) or MISSING
        rows.append([cname, f"{len(order)}/{k}", recipe])
    return table(["class", f"open concepts (gate ≥ {num(threshold, 'g')})", "recipe"], rows) + "\n"


def naming_table(names, *, title: str = "") -> str:
    """Markdown: one row per concept (:class:`jaxconcepts.evaluation.ConceptName`), its words
    with scores."""
    rows = [[n.concept, _words(n.words), len(n.rows), num(n.mean_code, ".3g")] for n in names]
    return render("naming.md.j2", title=title, table=table(
        ["concept", "top words (mean softmax of its top patches)", "patches", "mean code"], rows))


def name_accuracy_markdown(acc: Mapping) -> str:
    """The name-accuracy table of
    :func:`jaxconcepts.evaluation.c2mf._atlas.objects_name_accuracy` (a summary and one row per
    class with each method's top concept, its words and hit / miss)."""
    methods = acc["methods"]
    if not methods:
        return render("name_accuracy.md.j2", acc=acc, methods=None).removesuffix("\n")

    def frac(d):
        return (f"{d['hits']}/{d['n_classes']} ({num(d['accuracy'], '.2f')})",
                num(d["chance"], ".2g"))

    cuts = sorted({key for r in methods.values() for key in r if key.startswith("top")
                   and key != "top1"}, key=lambda s: int(s[3:]))
    summary = [[m, r["k"], *frac(r["top1"]),
                *(x for c in cuts for x in (frac(r[c]) if c in r else (MISSING, MISSING)))]
               for m, r in methods.items()]
    first = next(iter(methods.values()))["per_class"]
    per_class = []
    for i, rec in enumerate(first):
        cells = []
        for r in methods.values():
            pc = r["per_class"][i]
            if pc["concept"] is None:
                cells.append("no concept used")
                continue
            marks = [("✓" if pc[k] else "✗") for k in pc if k.startswith("hit_top")
                     and pc[k] is not None]
            cells.append(f"{pc['concept']}: {', '.join(pc['names'])}"
                         + (f" ({' '.join(marks)})" if marks else " (not counted)"))
        per_class.append([rec["class"], ", ".join(rec["accepted"]) or "– (not counted)", *cells])
    return render(
        "name_accuracy.md.j2", acc=acc, methods=methods,
        summary=table(["method", "k", "top-1", "chance",
                       *(x for c in cuts for x in (c.replace("top", "top-"), "chance"))],
                      summary),
        per_class=table(["class", "accepted", *methods], per_class)).removesuffix("\n")


def atlas_markdown(atlases: Sequence, *, figures: dict, recipes: dict, gate_threshold: float,
                   dataset: str, clip_names: dict | None = None,
                   naming_accuracy: Mapping | None = None) -> str:
    """The atlas section of the report: per method, its figures (``figures[(method, "atlas" |
    "gates")]``: file names), a table of the drawn concepts (label, top words, classes using it,
    CLIP words when ``clip_names[method]`` holds G word lists) and its per-class recipes
    (``recipes[method]``: Markdown, e.g. :func:`recipe_table`); with ``naming_accuracy``
    (:func:`jaxconcepts.evaluation.c2mf._atlas.objects_name_accuracy`) its table comes first."""
    sections = []
    for at in atlases:
        clip = (clip_names or {}).get(at.method)
        rows = []
        for j in at.order:
            users = [(at.class_names[c], at.usage[c, j]) for c in np.argsort(-at.usage[:, j])
                     if at.usage[c, j] >= gate_threshold]
            rows.append([at.labels[j], _words(at.names[j].words),
                         ", ".join(f"{c} ({num(g, '.2f')})" for c, g in users) or "none",
                         *([_words(clip[j])] if clip else [])])
        sections.append({
            "title": f"{_TITLES[at.method]}, k = {at.k}",
            "figures": [(f"{at.method} {cap}", figures[(at.method, key)])
                        for key, cap in (("atlas", "concept atlas"),
                                         ("gates", "class × concept usage"))
                        if (at.method, key) in figures],
            "table": table(["concept", "top words (mean softmax)", "classes using it (usage)",
                            *(["CLIP words"] if clip else [])], rows),
            "recipes": recipes[at.method].rstrip() if at.method in recipes else None})
    return render("atlas.md.j2", dataset=dataset, gate_threshold=gate_threshold,
                  naming=None if naming_accuracy is None else
                  name_accuracy_markdown(naming_accuracy), sections=sections).removesuffix("\n")


def no_atlas_markdown(dataset: str) -> str:
    """``c2mf_atlas.md`` when nothing could be drawn."""
    return render("atlas_none.md.j2", dataset=dataset)
