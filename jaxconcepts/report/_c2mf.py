"""The ``c2mf`` stage's pages: ``c2mf.md`` (Tables 1–3 of the C2MF paper, per k, with the
test-time controls, the split seeds, insertion / deletion, the rankings, the ablation, the SAEs
and the planted ground truth) and the page of a dataset with C2MF turned off.

Everything here reads the metrics dict of :func:`jaxconcepts.evaluation.run_c2mf` (as saved in
``c2mf.json``); the prose is in ``templates/c2mf*.md.j2``. A table the data cannot support (fewer
than :data:`MIN_SUPPORT` test images per class, or in all) says so instead of printing a mean ±
std from one or two images.
"""

from __future__ import annotations

from collections.abc import Mapping

from jaxconcepts.report._format import MISSING, interval, num, pm, table
from jaxconcepts.report._render import render

__all__ = ["METHOD_NAMES", "MIN_SUPPORT", "markdown_report", "disabled_markdown", "solved_note",
           "planted_lines", "sae_lines", "control_lines", "recipe_lines", "ranking_lines",
           "split_seeds_markdown", "SEED_FIELDS"]

#: readable names of the SAE methods (``jaxconcepts.evaluation.c2mf._sae_adapter.SAE_NAMES``
#: spelled out: the report layer imports no evaluation module; a test checks they agree)
SAE_NAMES = {"topk": "TopK SAE", "batchtopk": "BatchTopK SAE", "jumprelu": "JumpReLU SAE",
             "matryoshka": "Matryoshka SAE", "archetypal": "Archetypal SAE"}
METHOD_NAMES = {"c2mf": "Ours (C2MF)", "craft": "CRAFT-style NMF", "pca": "PCA", **SAE_NAMES}
#: the report's method order: the paper's, then the SAEs
_ORDER = ("c2mf", "craft", "pca", *SAE_NAMES)
#: fewest test images (per class, or in all) behind a reported mean ± std: a per-class accuracy from
#: one or two images is 0, 50 or 100 %, and its spread over classes measures nothing
MIN_SUPPORT = 3
#: the split-seed columns: (field of ``jaxconcepts.evaluation.c2mf._split_seeds.FIELDS``, label)
SEED_FIELDS = (("acc_pred", "Table 2 accuracy (pred, %)"), ("test_mse", "Table 3 test MSE"),
               ("insertion_ig", "insertion AUC (IG)"), ("deletion_ig", "deletion AUC (IG)"))


def _lines(text: str) -> list[str]:
    """A rendered section (every line ending in a newline) as the list of its lines."""
    return text.split("\n")[:-1]


def _text(lines: list[str]) -> str:
    """The inverse of :func:`_lines`."""
    return "".join(line + "\n" for line in lines)


def _name(m: str) -> str:
    return METHOD_NAMES.get(m, m)


def _methods(results: Mapping) -> list[str]:
    return [m for m in _ORDER if m in results] + sorted(m for m in results if m not in _ORDER)


def _k_label(entry: Mapping) -> str:
    return f"{entry['k_used']}" + (f" (capped from {entry['k']})" if entry.get("capped") else "")


def solved_note(metrics: Mapping | None = None) -> str:
    """What the C2MF fit solves, against Eq. 11 as printed (with this run's atom norms ρ)."""
    rhos = sorted({round(float(e["solver"]["atom_norm"]), 4)
                   for e in ((metrics or {}).get("results") or {}).get("c2mf", {}).values()
                   if "solver" in e and "atom_norm" in e["solver"]})
    return render("c2mf_solved.md.j2", rhos=[f"{r:g}" for r in rhos]).rstrip("\n")


def _acc(entry, ref: str) -> str:
    r = (entry or {}).get("reconstruction") or {}
    return pm(r.get(f"acc_{ref}_mean"), r.get(f"acc_{ref}_std"), ".1f", scale=100)


def _similarity_table(fitted, controls) -> str:
    rows = [(_name(m), e, e.get("similarity") or {}) for m, e in fitted]
    # of the controls, only the random dictionaries have concepts of their own
    rows += [(label, e, e["similarity"]) for label, _, e in controls if e.get("similarity")]
    return table(["method", "k", "Pearson", "Cosine"],
                 [[label, _k_label(e), pm(s.get("pearson_mean"), s.get("pearson_std")),
                   pm(s.get("cosine_mean"), s.get("cosine_std"))] for label, e, s in rows])


def _accuracy_table(res: Mapping, methods: list[str], ks: list[str]) -> str:
    rows = []
    for k in ks:
        cells = [k]
        for m in methods:
            e = res[m].get(f"k{k}")
            r = (e or {}).get("reconstruction") or {}
            for ref in ("pred", "label"):
                mean, std = r.get(f"acc_{ref}_mean"), r.get(f"acc_{ref}_std")
                cells.append(MISSING if e is None or mean is None else
                             pm(mean, std, ".1f", scale=100)
                             + (f" (k={e['k_used']})" if e.get("capped") else ""))
        rows.append(cells)
    heads = [h for m in methods for h in (f"{_name(m)} (pred)", f"{_name(m)} (label)")]
    out = table(["#concepts", *heads], rows)
    if not methods:  # no fit at all: the page has always shown one empty header cell here
        out = out.replace("| #concepts |", "| #concepts |  |", 1)
    return out


def _consistency_table(fitted, controls, *, own: bool, per_class_ok: bool) -> str:
    rows = []
    for m, e in fitted:
        c = e.get("consistency") or {}
        pc = [pm(c.get(f"{t}_class_mean"), c.get(f"{t}_class_std"), ".4g")
              if per_class_ok else MISSING for t in ("train", "test")]
        rows.append([_name(m), _k_label(e), num(c.get("train_mse"), ".4g"),
                     *([num(c.get("train_mse_own_rows"), ".4g")] if own else []),
                     num(c.get("test_mse"), ".4g"), num(c.get("difference"), ".4g"), *pc])
    for label, _, e in controls:  # test-time controls: test rows only
        c = e.get("consistency") or {}
        pc = (pm(c.get("test_class_mean"), c.get("test_class_std"), ".4g")
              if per_class_ok else MISSING)
        rows.append([label, _k_label(e), MISSING, *([MISSING] if own else []),
                     num(c.get("test_mse"), ".4g"), MISSING, MISSING, pc])
    return table(["method", "k", "train", *(["own fit rows"] if own else []), "test",
                  "difference", "per-class train (mean ± std)", "per-class test (mean ± std)"],
                 rows)


def _auc_table(fitted, controls) -> str:
    rows = []
    for label, e in [(_name(m), e) for m, e in fitted] + [(lab, e) for lab, _, e in controls]:
        d = e.get("insertion_deletion") or {}
        rows.append([label, _k_label(e), *(pm(d.get(f"{r}_{meth}_mean"), d.get(f"{r}_{meth}_std"))
                                           for meth in ("gradcam", "ig")
                                           for r in ("insertion", "deletion"))])
    return table(["method", "k", "insertion (Grad-CAM)", "deletion (Grad-CAM)", "insertion (IG)",
                  "deletion (IG)"], rows)


def _ablation(abl: Mapping, figs: Mapping) -> dict:
    cols = [c for c in ("c2mf", "craft_clustered", "pca_clustered") if c in abl]
    names = {"c2mf": "C2MF", "craft_clustered": "CRAFT clustered",
             "pca_clustered": "PCA clustered"}
    rows = [[n, *(num(abl[c][i], ".1f", scale=100) for c in cols)]
            for i, n in enumerate(abl["n_concepts"])]
    return {"n_classes": abl.get("n_classes", "?"), "fig4": figs.get("fig4"),
            "table": table(["n concepts", *(names[c] for c in cols)], rows)}


def _sobol(res: Mapping) -> str | None:
    sob = [(kk, e["sobol_total_indices"]) for kk, e in (res.get("craft") or {}).items()
           if e.get("sobol_total_indices")]
    if not sob:
        return None
    rows = []
    for kk, per_class in sob[:1]:  # the smallest k; every k is in c2mf.json
        for cname, st in per_class.items():
            order = sorted(range(len(st)), key=lambda j: -st[j])[:3]
            rows.append([cname, kk[1:], ", ".join(f"{j}: {num(st[j])}" for j in order)])
    return table(["class", "k", "top concepts (index: S_T)"], rows)


def _same_note(metrics: Mapping, fitted, controls) -> dict:
    """Whether Grad-CAM and IG give the same AUCs, and why (``same_note``: "linear",
    "nonlinear" or None)."""
    same = [m for m, e in fitted + [(label, e) for label, _, e in controls]
            if all((e.get("insertion_deletion") or {}).get(f"{r}_gradcam_mean")
                   == (e.get("insertion_deletion") or {}).get(f"{r}_ig_mean")
                   for r in ("insertion", "deletion"))]
    head = metrics.get("head") or {"kind": "gap_linear"}
    out = {"same_note": None, "n_same": len(same), "gap": None, "head_layer": head.get("layer")}
    if same and head["kind"] == "gap_linear":
        out["same_note"] = "linear"
    elif head["kind"] != "gap_linear":
        gaps = [abs(d[f"{r}_gradcam_mean"] - d[f"{r}_ig_mean"]) for _, e in fitted
                for d in [e.get("insertion_deletion") or {}] for r in ("insertion", "deletion")
                if d.get(f"{r}_gradcam_mean") is not None and d.get(f"{r}_ig_mean") is not None]
        out.update(same_note="nonlinear", gap=max(gaps) if gaps else None)
    return out


def markdown_report(metrics: Mapping) -> str:
    """``c2mf.md``: the Markdown section embedded in the HTML report (Tables 1–3 of the paper,
    per k) of the metrics dict of :func:`jaxconcepts.evaluation.run_c2mf`."""
    res = metrics.get("results") or {}
    methods = _methods(res)
    ks = [str(k) for k in metrics.get("k_requested", [])]
    n_test = [c["n_test"] for c in metrics.get("classes") or []]
    per_class_ok = bool(n_test) and min(n_test) >= MIN_SUPPORT
    images_ok = sum(n_test) >= MIN_SUPPORT
    # (method, entry) for every fitted method and requested k, in table order
    fitted = [(m, res[m][f"k{k}"]) for m in methods for k in ks if f"k{k}" in res[m]]
    # (row label, control record, entry) of every test-time control and requested k
    ctl = metrics.get("controls") or {}
    rank = {m: i for i, m in enumerate(_ORDER)}  # by method, random last
    order = sorted(ctl, key=lambda n: (rank.get(ctl[n]["of"], len(_ORDER)),
                                       n.startswith("random"), n))
    controls = [(ctl[n]["label"], ctl[n], ctl[n]["results"][f"k{k}"]) for n in order for k in ks
                if f"k{k}" in ctl[n]["results"]]
    own = any("train_mse_own_rows" in (e.get("consistency") or {}) for _, e in fitted)
    figs = metrics.get("figures") or {}
    abl = metrics.get("ablation") or {}
    planted = metrics.get("planted")
    seeds = metrics.get("split_seeds")
    sections = {
        "controls": _text(control_lines(controls, res, per_class_ok)) if controls else "",
        "split_seeds": split_seeds_markdown(seeds, METHOD_NAMES) + "\n" if seeds else "",
        "ranking": _text(ranking_lines(fitted, [c["name"] for c in metrics.get("classes", [])]))
        if images_ok else "",
        "sae": _text(sae_lines(res)),
        "planted": _text(planted_lines(planted) + recipe_lines(planted, res)) if planted else "",
    }
    return render(
        "c2mf.md.j2", m=metrics, n_class_max=max(len(metrics["classes"]) - 1, 0),
        small=[f"{c['name']} ({c['n_images']})" for c in metrics.get("too_small_classes") or []],
        note=metrics.get("note"), solved=solved_note(metrics),
        caps=[f"{m} ≤ {v}" for m, v in (metrics.get("k_caps") or {}).items()],
        per_class_ok=per_class_ok, images_ok=images_ok, min_support=MIN_SUPPORT,
        n_test_min=min(n_test or [0]), n_test_total=sum(n_test), own=own,
        table1=_similarity_table(fitted, controls),
        table2=_accuracy_table(res, methods, ks) if per_class_ok else "",
        table3=_consistency_table(fitted, controls, own=own, per_class_ok=per_class_ok),
        table_auc=_auc_table(fitted, controls) if images_ok else "",
        **_same_note(metrics, fitted, controls),
        has_pca="pca" in methods, pca_no_mean="pca_no_mean" in ctl,
        figures=[(cap, figs[fid]) for fid, cap in (
            ("fig2", "Fig. 2 — mean insertion / deletion curves, Grad-CAM ranking"),
            ("fig3", "Fig. 3 — mean insertion / deletion curves, IG ranking")) if fid in figs],
        ablation=_ablation(abl, figs) if abl.get("n_concepts") else None,
        ablation_note=abl.get("note"), sobol=_sobol(res), any_results=bool(res), **sections)


def planted_lines(planted: Mapping) -> list[str]:
    """Markdown lines: the ground-truth table (atoms vs parts, recipes, Coverage@τ) and its
    legend."""
    res = planted.get("results") or {}
    taus = sorted({t for per_k in res.values() for p in per_k.values()
                   for t in (p.get("coverage") or {})}, key=float)
    rows = []
    for m in _methods(res):
        for kk, p in res[m].items():
            cov = p.get("coverage") or {}
            rows.append([_name(m), kk[1:], num(p["matched_fraction"]), num(p["mean_best_corr"]),
                         num(p["precision"]), num(p["recall"]),
                         *(num(cov.get(t), ".2f") for t in taus),
                         *([p.get("n_classes", MISSING)] if taus else [])])
    heads = ["method", "k", "atoms matched to a part", "mean best corr.", "recipe precision",
             "recipe recall", *(f"Coverage@{t}" for t in taus),
             *(["parts present"] if taus else [])]
    return _lines(render("c2mf_planted.md.j2", table=table(heads, rows),
                         legend=planted.get("legend", "")))


def sae_lines(results: Mapping) -> list[str]:
    """Markdown lines: the SAEs' dead latents (none when no SAE was fitted)."""
    rows = [(m, e) for m in _methods(results) if m in SAE_NAMES
            for e in results[m].values() if "solver" in e]
    if not rows:
        return []
    cells = [[METHOD_NAMES[m], _k_label(e), e["solver"].get("active") or MISSING,
              f"{e['solver']['n_dead']} / {e['solver']['width']}", e["solver"]["epochs"],
              num(e["solver"].get("final_loss"), ".4f")] for m, e in rows]
    return _lines(render("c2mf_sae.md.j2", table=table(
        ["method", "k (width)", "active", "dead latents", "epochs", "final loss"], cells)))


def control_lines(controls, results: Mapping, per_class_ok: bool) -> list[str]:
    """Markdown lines: Table 2's control rows (``(label, control record, entry)`` per control and
    k, beside the controlled method's own score at the same k) and what each control tells."""
    rows = [[label, _k_label(e), _acc(e, "pred"), _acc(e, "label"),
             _acc((results.get(c["of"]) or {}).get(f"k{e['k']}"), "pred")]
            for label, c, e in controls]
    seen = {}
    for label, c, _ in controls:
        seen.setdefault(label, c["tells"])
    return _lines(render(
        "c2mf_controls.md.j2", per_class_ok=per_class_ok, min_support=MIN_SUPPORT,
        table=table(["control", "k", "pred", "label", "fitted (pred)"], rows),
        tells=list(seen.items())))


def _n_open(kk, p, c2):
    """Open gates per class: ``n_active_mean``, or (runs before it) from the solver's share of
    open gates (> 0.5)."""
    sol = (c2.get(kk) or {}).get("solver") or {}
    if p.get("n_active_mean") is not None:
        return p["n_active_mean"]
    if sol.get("gates_open_fraction") is not None and "k_used" in c2.get(kk, {}):
        return sol["gates_open_fraction"] * c2[kk]["k_used"]
    return None


def recipe_lines(planted: Mapping, results: Mapping) -> list[str]:
    """Markdown lines: C2MF's recipe precision / recall across k with the open gates behind them,
    and a sentence when recall collapses (falls to half its best or less) at some k."""
    per_k = (planted.get("results") or {}).get("c2mf") or {}
    if not per_k:
        return []
    c2 = results.get("c2mf") or {}
    rows = [[kk[1:], num(_n_open(kk, p, c2), ".2f"), num(p["matched_fraction"]),
             num(p["mean_best_corr"]), num(p["precision"]), num(p["recall"])]
            for kk, p in per_k.items()]
    rec = {kk: p["recall"] for kk, p in per_k.items() if p.get("recall") is not None}
    collapses = []
    if rec and max(rec.values()) > 0:
        best = max(rec, key=rec.get)
        for kk in [kk for kk, r in rec.items() if r <= rec[best] / 2 and kk != best]:
            p, pb = per_k[kk], per_k[best]
            sol = (c2.get(kk) or {}).get("solver") or {}
            n = _n_open(kk, p, c2)
            collapses.append({
                "k": kk[1:], "recall": num(rec[kk]), "best_recall": num(rec[best]),
                "best_k": best[1:], "n_open": None if n is None else num(n, ".2f"),
                "open_share": num(sol.get("gates_open_fraction"), ".1%"),
                "mean_gate": num(sol.get("gates_mean")),
                "matched": num(p["matched_fraction"]), "best_matched": num(pb["matched_fraction"]),
                "still_match": p["matched_fraction"] >= pb["matched_fraction"]})
    return _lines(render(
        "c2mf_recipes.md.j2", threshold=f"{planted.get('gate_threshold', 0.5):g}",
        table=table(["k", "open gates per class", "atoms matched", "mean best corr.",
                     "recipe precision", "recipe recall"], rows), collapses=collapses))


def ranking_lines(fitted, class_names=()) -> list[str]:
    """Markdown lines: how far the Grad-CAM and IG rankings differ (``ranking_agreement`` of each
    fit), per test image and per class (class-mean importances), for the ``(method, entry)``
    pairs; the per-class table shows each method's smallest k. ``class_names[j]``: fitted class
    j."""
    rows = [(m, e, e["ranking_agreement"]) for m, e in fitted if e.get("ranking_agreement")]
    if not rows:
        return []
    per_image = []
    for m, e, a in rows:
        im, pc = a["per_image"], a["per_class"]
        rho_c = [v["spearman"] for v in pc.values() if v["spearman"] is not None]
        per_image.append([
            _name(m), _k_label(e), pm(im["spearman_mean"], im["spearman_std"]),
            pm(im["kendall_mean"], im["kendall_std"]), num(im["top_differs"], ".0%"),
            f"{num(min(rho_c) if rho_c else None)} / "
            f"{num(sum(rho_c) / len(rho_c) if rho_c else None)}",
            num(a["top_differs_classes"], ".0%")])
    first = list({m: (m, e, a) for m, e, a in reversed(rows)}.values())[::-1]
    per_class = []
    for cl in first[0][2]["per_class"]:
        cells = [class_names[int(cl)] if int(cl) < len(class_names) else cl]
        for _, _, ar in first:
            v = ar["per_class"].get(cl)
            cells.append(MISSING if v is None else
                         f"{num(v['spearman'])}, {v['top_gradcam']} → {v['top_ig']}")
        per_class.append(cells)
    return _lines(render(
        "c2mf_ranking.md.j2",
        per_image=table(["method", "k", "ρ per image", "τ per image",
                         "images: top concept differs", "ρ of class means (min / mean)",
                         "classes: top concept differs"], per_image),
        per_class=table(["class", *(f"{_name(m)} (k = {_k_label(e)})" for m, e, _ in first)],
                        per_class)))


def split_seeds_markdown(res: Mapping | None, names: Mapping[str, str] = METHOD_NAMES) -> str:
    """The section of ``c2mf.md`` of :func:`jaxconcepts.runners.split_seed_runs`:
    per method the mean and 95 % t-interval over split seeds, and C2MF against each baseline with
    its verdict ("" without split seeds)."""
    if not res:
        return ""

    def cell(iv, f, signed=""):
        spec = f"{signed}.1f" if f == "acc_pred" else f"{signed}.3f"
        return interval(iv, spec, scale=100.0 if f == "acc_pred" else 1.0)

    rows = [[names.get(m, m), *(cell(per[f], f) for f, _ in SEED_FIELDS)]
            for m, per in res["summary"].items()]
    rows += [[f"C2MF beats {names.get(o, o)}",
              *(f"{cell(per[f], f, '+')} {per[f]['verdict']}" for f, _ in SEED_FIELDS)]
             for o, per in res["c2mf_beats"].items()]
    return render("c2mf_seeds.md.j2", n=len(res["seeds"]), k=res["k"], seeds=res["seeds"],
                  table=table(["method", *(label for _, label in SEED_FIELDS)], rows)
                  ).removesuffix("\n")


def disabled_markdown(dataset: str, note: str) -> str:
    """The page of a dataset whose ``c2mf.enabled`` is false (``note``: why, as in the metrics
    of :func:`jaxconcepts.evaluation.disabled_metrics`)."""
    return render("c2mf_disabled.md.j2", dataset=dataset, note=note)
