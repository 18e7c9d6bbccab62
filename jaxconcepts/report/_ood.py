"""The ``ood`` stage's page (``ood.md``): the confidence of complete images against CRAFT's crops
beside the paper's Table 4 / App. C rows, and the crops that keep the object against those that
lose it, from the stage's summary (as saved in ``ood.json``: the MSP means, Δμ, the agreement
and the OOD metrics of :func:`jaxconcepts.evaluation.confidence_study`; ``by_object``: the split
of :func:`jaxconcepts.evaluation.ood._confidence.object_split`)."""

from __future__ import annotations

from collections.abc import Mapping

from jaxconcepts.report._format import MISSING, interval, num, table
from jaxconcepts.report._render import render

__all__ = ["PAPER_TABLE4", "PAPER_CONFIDENCE", "ood_table", "ood_markdown",
           "object_split_markdown"]

#: App. B, Table 4 of the C2MF paper: (dataset, backbone) -> metrics (reference values, quoted).
PAPER_TABLE4 = {
    ("CUB", "NF-ResNet50"): {"auroc": 0.8701, "fpr95": 0.2442, "aupr_in": 0.7354,
                             "aupr_out": 0.9790},
    ("CUB", "ViT-B/32"): {"auroc": 0.9282, "fpr95": 0.4249, "aupr_in": 0.4944, "aupr_out": 0.9951},
    ("ImageNet", "NF-ResNet50"): {"auroc": 0.8804, "fpr95": 0.7284, "aupr_in": 0.2348,
                                  "aupr_out": 0.9910},
    ("ImageNet", "ViT-B/32"): {"auroc": 0.8400, "fpr95": 0.5872, "aupr_in": 0.3053,
                               "aupr_out": 0.9854},
}
#: App. C of the C2MF paper: (dataset, backbone) -> (mean MSP images, mean MSP patches, Δμ).
PAPER_CONFIDENCE = {
    ("CUB", "NF-ResNet50"): (0.63, 0.21, 0.42),
    ("CUB", "ViT-B/32"): (0.60, 0.21, 0.40),
    ("ImageNet", "NF-ResNet50"): (0.88, 0.46, 0.41),
    ("ImageNet", "ViT-B/32"): (0.80, 0.53, 0.27),
}


def ood_table(summaries: Mapping[str, Mapping], *,
              backbones: Mapping[str, str] | None = None) -> str:
    """Markdown: our rows (one per dataset) and the paper's Table 4 / App. C rows beneath.

    Args:
        summaries: dataset name -> summary (``ConfidenceStudy.summary()``: ``mu_full``,
            ``mu_crops``, ``delta_mu`` and the OOD metrics).
        backbones: dataset name -> model name shown in the table (optional).
    """
    backbones = backbones or {}
    rows = [["ours", name, backbones.get(name, MISSING), s["n_in"], s["n_out"], num(s["mu_full"]),
             num(s["mu_crops"]), num(s["delta_mu"]), num(s["auroc"]), num(s["fpr95"]),
             num(s["aupr_in"]), num(s["aupr_out"])] for name, s in summaries.items()]
    for (ds, bb), m in PAPER_TABLE4.items():
        mu_f, mu_c, d = PAPER_CONFIDENCE[(ds, bb)]
        rows.append(["paper", ds, bb, MISSING, MISSING, num(mu_f, ".2f"), num(mu_c, ".2f"),
                     num(d, ".2f"), num(m["auroc"]), num(m["fpr95"]), num(m["aupr_in"]),
                     num(m["aupr_out"])])
    return render("ood_table.md.j2", table=table(
        ["source", "dataset", "backbone", "images", "crops", "μ images", "μ crops", "Δμ",
         "AUROC↑", "FPR@95TPR↓", "AUPR-In↑", "AUPR-Out↑"], rows)).removesuffix("\n")


def ood_markdown(summary: Mapping, dataset: str, *, backbone: str, min_images: int,
                 figure: str | None = None) -> str:
    """The ``ood`` stage's Markdown: our row beside the paper's (:func:`ood_table`), what it shows
    next to the paper's ImageNet / NF-ResNet50 row, and a warning when the dataset has fewer
    than ``min_images`` images (then the numbers are an observation, not a result)."""
    s = summary
    ref_mu = PAPER_CONFIDENCE[("ImageNet", "NF-ResNet50")]
    ref = PAPER_TABLE4[("ImageNet", "NF-ResNet50")]
    return render(
        "ood.md.j2", dataset=dataset, s=s, min_images=min_images, figure=figure,
        table=ood_table({dataset: s}, backbones={dataset: backbone}),
        small=s["n_in"] < min_images,
        verdict="reproduces" if (s["auroc"] >= 0.75 and s["delta_mu"] >= 0.2) else
        "does not reproduce", ref_auroc=num(ref["auroc"], ".2f"),
        ref_mu=[num(x, ".2f") for x in ref_mu])


def _ci_text(row: dict, key: str) -> str:
    ci = row.get(f"{key}_ci")
    if row.get(key) is None or not ci or ci.get("lo") is None:
        return num(row.get(key))
    return interval({"mean": row[key], "lo": ci["lo"], "hi": ci["hi"]})


def object_split_markdown(split: dict, dataset: str) -> str:
    """Markdown of :func:`jaxconcepts.evaluation.ood._confidence.object_split`: one row per subset
    of crops (all, keeps, loses, of which none) beside each other, and what the comparison
    says."""
    st = split["settings"]
    kf = st["keep_fraction"]
    level = num(st["level"], ".0%")
    names = {"all": "all crops", "keeps": f"keeps the object (≥ {num(kf, '.0%')} of it inside)",
             "loses": f"loses the object (< {num(kf, '.0%')} inside)",
             "none": "… of which no object pixel (0%)"}
    n_all = split["all"]["n_crops"]
    rows = []
    for k, name in names.items():
        r = split[k]
        rows.append([name, r["n_crops"], MISSING if not n_all else num(r["n_crops"] / n_all, ".0%"),
                     r["n_images"], num(r["mu_crops"]), _ci_text(r, "delta_mu"),
                     _ci_text(r, "auroc"), num(r["fpr95"]), num(r["aupr_in"]),
                     num(r["aupr_out"]), num(r["agree"], ".0%")])
    keeps, loses = split["keeps"], split["loses"]
    empty = None
    if keeps["n_crops"] == 0 or loses["n_crops"] == 0:
        empty = "keeps" if keeps["n_crops"] == 0 else "loses"
    return render(
        "ood_split.md.j2", dataset=dataset, st=st, kf=kf, level=level, empty=empty,
        verdict=None if empty else _split_verdict(keeps, loses, split.get("loses_minus_keeps"),
                                                  level),
        table=table(["crops", "n", "share", "images", "μ crops", f"Δμ [{level}]",
                     f"AUROC↑ [{level}]", "FPR@95TPR↓", "AUPR-In↑", "AUPR-Out↑", "class kept"],
                    rows))


def _split_verdict(keeps: dict, loses: dict, diff: dict | None, level: str) -> str:
    """One sentence per measure on the paired loses − keeps interval, and what they say
    together."""
    words = {"delta_mu": ("confidence gap", "larger", "smaller"),
             "auroc": ("separability from complete images", "higher", "lower")}
    judged = not (not diff or diff["auroc"]["lo"] is None or diff["delta_mu"]["lo"] is None)
    parts = []
    if judged:
        for m, (what, up, down) in words.items():
            d = diff[m]
            parts.append({"what": what, "up": up, "down": down, "verdict": d["verdict"],
                          "iv": f"[{num(d['lo'])}, {num(d['hi'])}]"})
        verdicts = {diff[m]["verdict"] for m in words}
        end = ("tie" if verdicts == {"tie"} else
               "holds" if "holds" in verdicts and "fails" not in verdicts else "mixed")
    else:
        end = None
    return render("ood_verdict.md.j2", keeps=keeps, loses=loses, judged=judged, parts=parts,
                  level=level, end=end).removesuffix("\n")
