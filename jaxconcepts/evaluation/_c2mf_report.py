"""Tables and plot data of the C2MF evaluation stage (layout of Tables 1–3 of the C2MF paper).

Pure formatting of the metrics dict built by :func:`jaxconcepts.evaluation.run_c2mf`; no
computation here. A table the data cannot support (fewer than :data:`MIN_SUPPORT` test images per
class, or in all) says so instead of printing a mean ± std from one or two images.

- :func:`loss_csv` — the C2MF loss history per k as a wide CSV (DVC plot: x = ``step``);
- :func:`markdown_report` — Table 1 (concept similarity), Table 2 (per-class reconstruction
  accuracy), Table 3 (consistency), insertion/deletion AUCs, each with the test-time controls'
  rows (``metrics["controls"]``: PCA without the class mean, C2MF with uniform or another class's
  gates, random dictionaries, the SAEs' random frozen decoders) and what each control tells, the
  multi-class ablation, the SAEs' dead latents, the ground-truth table (atoms vs parts, recipes,
  Coverage@τ), C2MF's recipe recall across k on planted data and the classes left out of split
  metrics. Every method of the suite has a row, the SAEs under their readable names.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from jaxconcepts.evaluation._c2mf_sae import SAE_NAMES

__all__ = ["solved_note", "disabled_report", "c2mf_summary", "loss_csv", "markdown_report",
           "fmt_pm"]

METHOD_NAMES = {"c2mf": "Ours (C2MF)", "craft": "CRAFT-style NMF", "pca": "PCA", **SAE_NAMES}
#: the report's method order: the paper's, then the SAEs
_ORDER = ("c2mf", "craft", "pca", *SAE_NAMES)
#: fewest test images (per class, or in all) behind a reported mean ± std: a per-class accuracy from
#: one or two images is 0, 50 or 100 %, and its spread over classes measures nothing
MIN_SUPPORT = 3


def _num(x, fmt: str = "{:.3f}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return fmt.format(x)


def fmt_pm(mean, std, fmt: str = "{:.3f}") -> str:
    """``"m ± s"``; ``"–"`` when the mean is missing."""
    if mean is None:
        return "–"
    return f"{_num(mean, fmt)} ± {_num(std, fmt)}"


def loss_csv(histories: Mapping[int, Sequence[float]]) -> str:
    """Wide CSV ``step,k5,k10,...``: the C2MF objective per optimiser step for each k.

    Runs that stopped earlier (convergence) leave their later cells empty.
    """
    ks = sorted(histories)
    n = max((len(histories[k]) for k in ks), default=0)
    lines = [",".join(["step"] + [f"k{k}" for k in ks])]
    for s in range(n):
        cells = [str(s)]
        for k in ks:
            h = histories[k]
            cells.append(repr(float(h[s])) if s < len(h) else "")
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _methods(results: Mapping) -> list[str]:
    return [m for m in _ORDER if m in results] + sorted(m for m in results if m not in _ORDER)


def _k_label(entry: Mapping) -> str:
    return f"{entry['k_used']}" + (f" (capped from {entry['k']})" if entry.get("capped") else "")


def solved_note(metrics: Mapping | None = None) -> str:
    """What the C2MF fit solves, against Eq. 11 as printed (with this run's atom norms ρ)."""
    rhos = sorted({round(float(e["solver"]["atom_norm"]), 4)
                   for e in ((metrics or {}).get("results") or {}).get("c2mf", {}).values()
                   if "solver" in e and "atom_norm" in e["solver"]})
    rho = f" (this run: ρ = {', '.join(f'{r:g}' for r in rhos)})" if rhos else ""
    return ("**What is solved, against Eq. 11 as printed.** Eq. 11 minimises "
            "Σ_y ‖A(y) − U_y diag(σ(λ_y)) W‖² + α Σ_y ‖σ(λ_y)‖₁ with U ≥ 0. As printed it has a "
            "scale ambiguity: scaling a code column up and the matching gate down (or a gate "
            "column up and the atom down) leaves the fit unchanged, so the L1 term can be driven "
            "to 0 for free and does not make the gates sparse. We solve Eq. 11 with two "
            "constraints that remove the ambiguity: every atom has a fixed norm, ‖W_j‖ = ρ "
            f"(`atom_norm`: the 99th percentile of the row norms ‖a_i‖){rho}, and the codes lie "
            "in a box, 0 ≤ U ≤ 1. Then σ(λ_y)_j is the largest share of atom j that class y can "
            "use, shrinking a gate costs fit, and α trades fit for sparsity (see the α sweep when "
            "`c2mf.alpha_sweep` is set).")


def markdown_report(metrics: Mapping) -> str:
    """The Markdown section embedded in the HTML report (Tables 1–3 of the paper, per k)."""
    ds = metrics["dataset"]
    res = metrics.get("results") or {}
    lines = [f"## C2MF evaluation ({ds})", ""]
    lines.append(
        f"{metrics['n_images']} images; classes = {metrics['settings']['labels']} "
        f"(remapped to 0..{max(len(metrics['classes']) - 1, 0)} for fitting); "
        f"{metrics['n_train_images']} train / {metrics['n_test_images']} test images, split per "
        f"class by image (test_fraction {metrics['settings']['test_fraction']}, seed "
        f"{metrics['settings']['seed']}). CRAFT baseline: {metrics['craft_rows']}.")
    lines.append("")
    small = metrics.get("too_small_classes") or []
    if small:
        lines.append(
            f"**{len(small)} class(es) with fewer than {metrics['settings']['min_images']} images "
            "were left out of the split metrics:** "
            + ", ".join(f"{c['name']} ({c['n_images']})" for c in small) + ".")
        lines.append("")
    if metrics.get("note"):
        lines += [f"**Note:** {metrics['note']}", ""]
    lines += [solved_note(metrics), ""]
    caps = metrics.get("k_caps") or {}
    if caps:
        lines.append("k supported by the data (cap per method): "
                     + ", ".join(f"{m} ≤ {v}" for m, v in caps.items()) + ".")
        lines.append("")
    methods = _methods(res)
    ks = [str(k) for k in metrics.get("k_requested", [])]
    n_test = [c["n_test"] for c in metrics.get("classes") or []]
    per_class_ok = bool(n_test) and min(n_test) >= MIN_SUPPORT
    images_ok = sum(n_test) >= MIN_SUPPORT
    thin_classes = (f"**Not supported by this dataset:** the smallest class has "
                    f"{min(n_test or [0])} test image(s) (fewer than {MIN_SUPPORT}); a per-class "
                    "accuracy from so few images is 0, 50 or 100 %, so no mean ± std over classes "
                    "is shown. The per-class values are in c2mf.json.")
    # (method, entry) for every fitted method and requested k, in table order
    fitted = [(m, res[m][f"k{k}"]) for m in methods for k in ks if f"k{k}" in res[m]]
    # (row label, control record, entry) of every test-time control and requested k
    ctl = metrics.get("controls") or {}
    rank = {m: i for i, m in enumerate(_ORDER)}  # by method, random last
    order = sorted(ctl, key=lambda n: (rank.get(ctl[n]["of"], len(_ORDER)),
                                       n.startswith("random"), n))
    controls = [(ctl[n]["label"], ctl[n], ctl[n]["results"][f"k{k}"]) for n in order for k in ks
                if f"k{k}" in ctl[n]["results"]]

    # Table 1 — similarity
    lines += ["### Table 1 — concept similarity (lower = less redundant), "
              "mean ± std over pairs", "",
              "| method | k | Pearson | Cosine |", "|---|---|---|---|"]
    for m, e in fitted:
        s = e.get("similarity") or {}
        lines.append(f"| {METHOD_NAMES.get(m, m)} | {_k_label(e)} | "
                     f"{fmt_pm(s.get('pearson_mean'), s.get('pearson_std'))} | "
                     f"{fmt_pm(s.get('cosine_mean'), s.get('cosine_std'))} |")
    for label, _, e in controls:
        s = e.get("similarity")
        if s:  # only the random dictionaries have concepts of their own
            lines.append(f"| {label} | {_k_label(e)} | "
                         f"{fmt_pm(s.get('pearson_mean'), s.get('pearson_std'))} | "
                         f"{fmt_pm(s.get('cosine_mean'), s.get('cosine_std'))} |")
    lines.append("")

    # Table 2 — reconstruction accuracy
    lines += ["### Table 2 — per-class reconstruction accuracy (%) on test images, mean ± std "
              "over classes", "",
              "Per C2MF class (the classes fitted; with `labels: label`, the folders): "
              "h(U_test W) against the model's own prediction (pred) and against the label "
              "(label; – when the images have no labels or their folder classes are not the "
              "head's outputs).", "",
              "| #concepts | " + " | ".join(f"{METHOD_NAMES.get(m, m)} (pred) | "
                                          f"{METHOD_NAMES.get(m, m)} (label)" for m in methods)
              + " |",
              "|---|" + "---|---|" * len(methods)]
    if not per_class_ok:
        lines = lines[:-2] + [thin_classes, ""]
    for k in (ks if per_class_ok else []):
        cells = [k]
        for m in methods:
            e = res[m].get(f"k{k}")
            r = (e or {}).get("reconstruction") or {}
            for ref in ("pred", "label"):
                mean, std = r.get(f"acc_{ref}_mean"), r.get(f"acc_{ref}_std")
                cells.append("–" if e is None or mean is None else
                             f"{fmt_pm(100 * mean, 100 * std, '{:.1f}')}"
                             + (f" (k={e['k_used']})" if e.get("capped") else ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if controls:
        lines += control_lines(controls, res, per_class_ok)
    if metrics.get("split_seeds"):
        from jaxconcepts.evaluation._c2mf_seeds import split_seeds_markdown

        lines += [split_seeds_markdown(metrics["split_seeds"], METHOD_NAMES)]

    # Table 3 — consistency
    own = any("train_mse_own_rows" in (e.get("consistency") or {}) for _, e in fitted)
    lines += ["### Table 3 — consistency (MSE per entry); difference = test − train "
              "(the paper's *variation* is train − test)", "",
              "train and test: full-image rows of the train and test images, for every method."
              + (" *own fit rows*: the rows a method was fitted on when they are not those (CRAFT: "
                 "its random crops), so CRAFT's error on its own crops stands next to its error on "
                 "full images it never saw." if own else ""), "",
              "| method | k | train | " + ("own fit rows | " if own else "")
              + "test | difference | per-class train (mean ± std) | per-class test (mean ± std) |",
              "|---|---|---|" + ("---|" if own else "") + "---|---|---|---|"]
    for m, e in fitted:
        c = e.get("consistency") or {}
        pc = [fmt_pm(c.get(f"{t}_class_mean"), c.get(f"{t}_class_std"), '{:.4g}')
              if per_class_ok else "–" for t in ("train", "test")]
        lines.append(
            f"| {METHOD_NAMES.get(m, m)} | {_k_label(e)} | {_num(c.get('train_mse'), '{:.4g}')} | "
            + (f"{_num(c.get('train_mse_own_rows'), '{:.4g}')} | " if own else "")
            + f"{_num(c.get('test_mse'), '{:.4g}')} | {_num(c.get('difference'), '{:.4g}')} "
            f"| {pc[0]} | {pc[1]} |")
    for label, _, e in controls:  # test-time controls: test rows only
        c = e.get("consistency") or {}
        pc = (fmt_pm(c.get("test_class_mean"), c.get("test_class_std"), '{:.4g}')
              if per_class_ok else "–")
        lines.append(f"| {label} | {_k_label(e)} | – | " + ("– | " if own else "")
                     + f"{_num(c.get('test_mse'), '{:.4g}')} | – | – | {pc} |")
    lines.append("")
    if not per_class_ok:
        lines += [f"Per-class columns: {thin_classes}", ""]

    # insertion / deletion
    lines += ["### Concept insertion / deletion AUC on test images (insertion ↑, deletion ↓)", "",
              "| method | k | insertion (Grad-CAM) | deletion (Grad-CAM) | insertion (IG) "
              "| deletion (IG) |", "|---|---|---|---|---|---|"]
    if not images_ok:
        lines = lines[:-2] + [f"**Not supported by this dataset:** {sum(n_test)} test image(s) "
                              f"in all (fewer than {MIN_SUPPORT}); no mean ± std over images is "
                              "shown. The values are in c2mf.json.", ""]
    for m, e in (fitted if images_ok else []):
        d = e.get("insertion_deletion") or {}
        row = [f"{fmt_pm(d.get(f'{r}_{meth}_mean'), d.get(f'{r}_{meth}_std'))}"
               for meth in ("gradcam", "ig") for r in ("insertion", "deletion")]
        lines.append(f"| {METHOD_NAMES.get(m, m)} | {_k_label(e)} | " + " | ".join(row) + " |")
    for label, _, e in (controls if images_ok else []):
        d = e.get("insertion_deletion") or {}
        row = [f"{fmt_pm(d.get(f'{r}_{meth}_mean'), d.get(f'{r}_{meth}_std'))}"
               for meth in ("gradcam", "ig") for r in ("insertion", "deletion")]
        lines.append(f"| {label} | {_k_label(e)} | " + " | ".join(row) + " |")
    lines.append("")

    same = [m for m, e in fitted + [(label, e) for label, _, e in controls]
            if all((e.get("insertion_deletion") or {}).get(f"{r}_gradcam_mean")
                   == (e.get("insertion_deletion") or {}).get(f"{r}_ig_mean")
                   for r in ("insertion", "deletion"))]
    head = metrics.get("head") or {"kind": "gap_linear"}
    if same and head["kind"] == "gap_linear":
        lines += [f"Grad-CAM and IG give identical AUCs in {len(same)} of the rows above: with a "
                  "GAP + linear h the class logit is linear in the codes, so both rank the "
                  "concepts the same way (IG's path integral of a constant gradient is Grad-CAM's "
                  "weight times the mean code, up to the number of positions).", ""]
    elif head["kind"] != "gap_linear":
        gaps = [abs(d[f"{r}_gradcam_mean"] - d[f"{r}_ig_mean"]) for _, e in fitted
                for d in [e.get("insertion_deletion") or {}] for r in ("insertion", "deletion")
                if d.get(f"{r}_gradcam_mean") is not None and d.get(f"{r}_ig_mean") is not None]
        gap = max(gaps) if gaps else None
        lines += [f"h is the rest of the network after `{head.get('layer')}`, run by torch: it is "
                  "not linear in the codes, so Grad-CAM (the gradient at the codes) and IG (the "
                  "gradient integrated from zero codes) can rank the concepts differently; both "
                  "come from torch autograd through h, chained through the fixed dictionary. "
                  "They coincide when ∂z/∂U does not change along IG's path from zero codes "
                  "(h affine there, e.g. a ReLU network in which no unit switches along the "
                  "path) and is the same at every position (as for GAP + linear); how far they "
                  "differ here is in the table below"
                  + (f"; the AUCs move by at most {gap:.3f}" if gap is not None else "") + "."
                  + (f" Their AUCs are identical in {len(same)} row(s)." if same else ""), ""]
    if images_ok:
        lines += ranking_lines(fitted, [c["name"] for c in metrics.get("classes", [])])
    if "pca" in methods:
        lines += ["PCA reconstructs each class around that class's mean activation, so with every "
                  "component removed the class mean alone still carries the prediction: its "
                  "deletion curves stay high and its insertion curves start high"
                  + (" (the *PCA (no class mean)* rows above leave the mean out)."
                     if "pca_no_mean" in ctl else "."), ""]
    figs = metrics.get("figures") or {}
    for fid, cap in (("fig2", "Fig. 2 — mean insertion / deletion curves, Grad-CAM ranking"),
                     ("fig3", "Fig. 3 — mean insertion / deletion curves, IG ranking")):
        if fid in figs:
            lines += [f"![{cap}]({figs[fid]})", ""]

    abl = metrics.get("ablation")
    if abl and abl.get("n_concepts"):
        cols = [c for c in ("c2mf", "craft_clustered", "pca_clustered") if c in abl]
        names = {"c2mf": "C2MF", "craft_clustered": "CRAFT clustered",
                 "pca_clustered": "PCA clustered"}
        lines += ["### Multi-class ablation (Fig. 4) — reconstruction accuracy (%, vs prediction) "
                  "vs number of shared concepts n", "",
                  "C2MF: its shared gated dictionary of n concepts. CRAFT / PCA clustered: the "
                  "per-class concepts (k = n per class) of all classes pooled, k-means into n "
                  "clusters, the concept nearest each centroid kept; test codes by NNLS (CRAFT) or "
                  f"least squares (PCA, no class mean) on that shared dictionary. n includes the "
                  f"number of classes ({abl.get('n_classes', '?')}).", "",
                  "| n concepts | " + " | ".join(names[c] for c in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        if not per_class_ok:
            lines = lines[:-2] + [thin_classes, ""]
        for i, n in enumerate(abl["n_concepts"] if per_class_ok else []):
            cells = [_num(None if abl[c][i] is None else 100 * abl[c][i], '{:.1f}') for c in cols]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
        if "fig4" in figs:
            lines += [f"![Fig. 4 — reconstruction accuracy vs number of concepts]({figs['fig4']})",
                      ""]
    elif abl and abl.get("note"):
        lines += [f"Multi-class ablation: {abl['note']}", ""]

    sob = [(kk, e["sobol_total_indices"]) for kk, e in (res.get("craft") or {}).items()
           if e.get("sobol_total_indices")]
    if sob:
        lines += ["### CRAFT's own importance — Sobol total indices per class (most important "
                  "concepts first)", "", "| class | k | top concepts (index: S_T) |",
                  "|---|---|---|"]
        for kk, per_class in sob[:1]:  # the smallest k; every k is in c2mf.json
            for cname, st in per_class.items():
                order = sorted(range(len(st)), key=lambda j: -st[j])[:3]
                lines.append(f"| {cname} | {kk[1:]} | "
                             + ", ".join(f"{j}: {st[j]:.3f}" for j in order) + " |")
        lines.append("")

    lines += sae_lines(res)
    planted = metrics.get("planted")
    if planted:
        lines += planted_lines(planted) + recipe_lines(planted, res)

    if not res:
        lines += ["_No results: no class had enough images for a train/test split._", ""]
    return "\n".join(lines) + "\n"



def planted_lines(planted: Mapping) -> list[str]:
    """Markdown: the ground-truth table (atoms vs parts, recipes, Coverage@τ) and its legend."""
    res = planted.get("results") or {}
    taus = sorted({t for per_k in res.values() for p in per_k.values()
                   for t in (p.get("coverage") or {})}, key=float)
    lines = ["### Planted ground truth — atoms vs parts, class concepts vs recipes, coverage", "",
             "| method | k | atoms matched to a part | mean best corr. | recipe precision "
             "| recipe recall |" + "".join(f" Coverage@{t} |" for t in taus)
             + (" parts present |" if taus else ""),
             "|---|---|---|---|---|---|" + "---|" * (len(taus) + bool(taus))]
    for m in _methods(res):
        for kk, p in res[m].items():
            cov = p.get("coverage") or {}
            lines.append(f"| {METHOD_NAMES.get(m, m)} | {kk[1:]} | {_num(p['matched_fraction'])} "
                         f"| {_num(p['mean_best_corr'])} | {_num(p['precision'])} "
                         f"| {_num(p['recall'])} |"
                         + "".join(f" {_num(cov.get(t), '{:.2f}')} |" for t in taus)
                         + (f" {p.get('n_classes', '–')} |" if taus else ""))
    return lines + ["", planted.get("legend", ""), ""]


def sae_lines(results: Mapping) -> list[str]:
    """Markdown: the SAEs' dead latents (none when no SAE was fitted)."""
    rows = [(m, e) for m in _methods(results) if m in SAE_NAMES
            for e in results[m].values() if "solver" in e]
    if not rows:
        return []
    lines = ["### SAEs — dead latents", "",
             "A latent is dead when it fired on none of the train rows of the last pass (AuxK "
             "trains the dead ones on the residual). *Active*: latents kept per row (TopK, "
             "archetypal) or on average (BatchTopK, Matryoshka); *final loss*: the last pass's "
             "mean loss (unexplained share of variance plus the method's terms).", "",
             "| method | k (width) | active | dead latents | epochs | final loss |",
             "|---|---|---|---|---|---|"]
    for m, e in rows:
        s = e["solver"]
        lines.append(f"| {METHOD_NAMES[m]} | {_k_label(e)} | {s.get('active') or '–'} | "
                     f"{s['n_dead']} / {s['width']} | {s['epochs']} | "
                     f"{_num(s.get('final_loss'), '{:.4f}')} |")
    return lines + [""]


def _acc(entry, ref: str) -> str:
    r = (entry or {}).get("reconstruction") or {}
    mean, std = r.get(f"acc_{ref}_mean"), r.get(f"acc_{ref}_std")
    return "–" if mean is None else fmt_pm(100 * mean, 100 * std, "{:.1f}")


def control_lines(controls, results: Mapping, per_class_ok: bool) -> list[str]:
    """Markdown: Table 2's control rows (``(label, control record, entry)`` per control and k,
    beside the controlled method's own score at the same k) and what each control tells."""
    lines = ["#### Controls — per-class reconstruction accuracy (%) on test images", "",
             "Each control changes one ingredient of a fitted model and is scored like the method "
             "it controls; *fitted* is that method's own score at the same k. Only CRAFT "
             "(full-image rows) and the SAEs' random frozen decoders are refitted; the others "
             "change the fitted model at test time. "
             "The same rows are in Table 3 (test MSE), the insertion/deletion table and, for the "
             "controls with concepts of their own, Table 1.", ""]
    if per_class_ok:
        lines += ["| control | k | pred | label | fitted (pred) |", "|---|---|---|---|---|"]
        for label, c, e in controls:
            own = (results.get(c["of"]) or {}).get(f"k{e['k']}")
            lines.append(f"| {label} | {_k_label(e)} | {_acc(e, 'pred')} | {_acc(e, 'label')} "
                         f"| {_acc(own, 'pred')} |")
        lines.append("")
    else:
        lines += ["Per-class accuracies of the controls: not supported by this dataset (too few "
                  f"test images per class, fewer than {MIN_SUPPORT}); they are in c2mf.json.", ""]
    seen = {}
    for label, c, _ in controls:
        seen.setdefault(label, c["tells"])
    lines += ["What each control tells:", ""]
    lines += [f"- **{label}**: {tells}" for label, tells in seen.items()]
    return lines + [""]


def recipe_lines(planted: Mapping, results: Mapping) -> list[str]:
    """Markdown: C2MF's recipe precision / recall across k with the open gates behind them, and
    a sentence when recall collapses (falls to half its best or less) at some k."""
    per_k = (planted.get("results") or {}).get("c2mf") or {}
    if not per_k:
        return []
    thr = planted.get("gate_threshold", 0.5)
    lines = ["#### C2MF recipe recall across k", "",
             f"A class's concepts are the atoms whose gate is ≥ {thr:g}; *open gates* is their "
             "mean number per class (from the fitted gates), *atoms matched* the share of classes "
             "whose atoms' mean best correlation with a part reaches the threshold, whatever the "
             "gates.", "",
             "| k | open gates per class | atoms matched | mean best corr. | recipe precision "
             "| recipe recall |", "|---|---|---|---|---|---|"]
    c2 = results.get("c2mf") or {}

    def n_open(kk, p):  # runs before n_active_mean: from the solver's share of open gates (> 0.5)
        sol = (c2.get(kk) or {}).get("solver") or {}
        if p.get("n_active_mean") is not None:
            return p["n_active_mean"]
        if sol.get("gates_open_fraction") is not None and "k_used" in c2.get(kk, {}):
            return sol["gates_open_fraction"] * c2[kk]["k_used"]
        return None

    for kk, p in per_k.items():
        lines.append(f"| {kk[1:]} | {_num(n_open(kk, p), '{:.2f}')} | "
                     f"{_num(p['matched_fraction'])} | {_num(p['mean_best_corr'])} | "
                     f"{_num(p['precision'])} | {_num(p['recall'])} |")
    lines.append("")
    rec = {kk: p["recall"] for kk, p in per_k.items() if p.get("recall") is not None}
    if rec and max(rec.values()) > 0:
        best = max(rec, key=rec.get)
        low = [kk for kk, r in rec.items() if r <= rec[best] / 2 and kk != best]
        for kk in low:
            p, pb = per_k[kk], per_k[best]
            sol = (c2.get(kk) or {}).get("solver") or {}
            n = n_open(kk, p)
            gates = ("" if n is None else
                     f" At k = {kk[1:]} a class has {n:.2f} open gate(s) on "
                     f"average (≥ {thr:g}; {_num(sol.get('gates_open_fraction'), '{:.1%}')} of "
                     f"all gates, mean gate {_num(sol.get('gates_mean'))}), so few atoms are "
                     "counted as the class's concepts.")
            atoms = (" Its atoms still match parts as often as at the best k (atoms matched "
                     f"{_num(p['matched_fraction'])} against {_num(pb['matched_fraction'])}): the "
                     "collapse is in the gates, not in the dictionary."
                     if p["matched_fraction"] >= pb["matched_fraction"] else
                     f" Fewer atoms match parts too (atoms matched {_num(p['matched_fraction'])} "
                     f"against {_num(pb['matched_fraction'])}).")
            lines.append(f"**Recall collapses at k = {kk[1:]}:** {rec[kk]:.3f} against "
                         f"{rec[best]:.3f} at k = {best[1:]}.{gates}{atoms}")
        if low:
            lines.append("")
    return lines


def ranking_lines(fitted, class_names=()) -> list[str]:
    """Markdown: how far the Grad-CAM and IG rankings differ (``ranking_agreement`` of each fit),
    per test image and per class (class-mean importances), for the ``(method, entry)`` pairs;
    the per-class table shows each method's smallest k. ``class_names[j]``: fitted class j."""
    rows = [(m, e, e["ranking_agreement"]) for m, e in fitted if e.get("ranking_agreement")]
    if not rows:
        return []
    lines = ["### Grad-CAM vs IG concept rankings on test images", "",
             "Spearman ρ and Kendall τ between the two importance vectors of each image (1: the "
             "same order), the share of images whose most important concept differs, and the "
             "same for each class's mean importances.", "",
             "| method | k | ρ per image | τ per image | images: top concept differs | ρ of class "
             "means (min / mean) | classes: top concept differs |", "|---|---|---|---|---|---|---|"]
    for m, e, a in rows:
        im, pc = a["per_image"], a["per_class"]
        rho_c = [v["spearman"] for v in pc.values() if v["spearman"] is not None]
        lines.append(
            f"| {METHOD_NAMES.get(m, m)} | {_k_label(e)} | "
            f"{fmt_pm(im['spearman_mean'], im['spearman_std'])} | "
            f"{fmt_pm(im['kendall_mean'], im['kendall_std'])} | "
            f"{_num(im['top_differs'], '{:.0%}')} "
            f"| {_num(min(rho_c) if rho_c else None)} / "
            f"{_num(sum(rho_c) / len(rho_c) if rho_c else None)} | "
            f"{_num(a['top_differs_classes'], '{:.0%}')} |")
    first = list({m: (m, e, a) for m, e, a in reversed(rows)}.values())[::-1]
    lines += ["", "Per class (each method's smallest k): ρ of the class-mean importances, the top "
              "concept by Grad-CAM → by IG.", "",
              "| class | " + " | ".join(f"{METHOD_NAMES.get(m, m)} (k = {_k_label(e)})"
                                      for m, e, _ in first) + " |",
              "|---|" + "---|" * len(first)]
    for cl in first[0][2]["per_class"]:
        cells = []
        name = class_names[int(cl)] if int(cl) < len(class_names) else cl
        for _, _, ar in first:
            v = ar["per_class"].get(cl)
            cells.append("–" if v is None else f"{_num(v['spearman'])}, {v['top_gradcam']} → "
                         f"{v['top_ig']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def disabled_report(dataset: str, n_images: int, n_classes: int) -> tuple[dict, str]:
    """``(metrics, markdown)`` of a dataset whose ``c2mf.enabled`` is false: nothing is fitted,
    and the page says why: with fewer than 2 images per class, C2MF's evaluation is not
    supported; otherwise the dataset's params turned it off."""
    per_class = n_images / max(n_classes, 1)
    counts = f"{n_images} images in {n_classes} classes ({per_class:.1f} per class)"
    if per_class < 2:
        reason = (f"not supported on this dataset: {counts}. C2MF's gates, the per-class "
                  "baselines (CRAFT, PCA) and every table (reconstruction accuracy per class, "
                  "insertion/deletion on test images, consistency) need a train/test split "
                  "*within* each class, i.e. at least 2 images per class and many more for a "
                  "mean ± std; with about one image per class only a dictionary over all images "
                  "could be fitted, which tests nothing the paper claims. Set `c2mf.enabled: "
                  "true` for a dataset with several images per class (e.g. `planted`).")
    else:
        reason = (f"turned off for this dataset (`c2mf.enabled: false` in its params.yaml "
                  f"entry); nothing was fitted. It has {counts}, counting each image's explained "
                  "class; set `c2mf.enabled: true` to run the C2MF suite on it.")
    metrics = {"dataset": dataset, "enabled": False, "note": reason, "n_images": n_images,
               "n_classes": n_classes}
    md = f"## C2MF evaluation ({dataset})\n\n**C2MF is {reason}**\n"
    return metrics, md


def c2mf_summary(metrics: Mapping, dataset: str) -> str:
    """The lines the ``c2mf`` stage prints: the note, each fit's headline numbers, the time."""
    lines = [f"c2mf ({dataset}): {metrics['note']}"] if metrics["note"] else []
    for m, per_k in metrics["results"].items():
        for kk, e in per_k.items():
            r = e["reconstruction"]
            lines.append(f"c2mf {m} {kk} (k={e['k_used']}): rec acc (pred) "
                         f"{r['acc_pred_mean']} | test mse {e['consistency']['test_mse']:.4g}")
    lines.append(f"c2mf ({dataset}): {metrics['seconds']} s; "
                 f"{len(metrics['too_small_classes'])} classes too small")
    return "\n".join(lines)
