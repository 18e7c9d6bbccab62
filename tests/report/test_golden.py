"""Golden check of the report layer: every Markdown page the pipeline writes, rebuilt from the
data the stages saved beside it (``reports/<ds>/*.json``, ``reports/scoreboard/*.json``) and
compared byte for byte with the committed page.

The committed pages were written by the stages at the commit that last reran the pipeline, so a
difference is a change of report text. The JSON's keys are sorted, so the dicts whose order a page
shows are put back in the order the evaluation built them. ``c2mf_atlas.md`` needs the atlases:
they are read back from ``data/<ds>/c2mf/atlas.safetensors`` (a DVC output; compared where it is
checked out, the variant pages check its layout everywhere). ``c2mf_loss.csv`` is read back into
histories and written again.

Branches no saved run reaches (too few test images, no claims, each verdict of the object split,
a target not reached, CLIP words, ...) are variants of the saved data whose pages were captured
from the Markdown functions before they moved into the report layer (``golden/``); the variants
are built here and each page module's test file (``tests/report/test_<module>.py``) compares
its own (fixture ``frozen`` of ``conftest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
DATASETS = ("planted", "objects", "objects_lite1", "photos", "planted_layer3")


def _json(path: Path):
    return json.loads(path.read_text())


def _params(ds: str) -> dict:
    from jaxconcepts._params import dataset_params, load_params

    return dataset_params(load_params(ROOT / "params.yaml"), ds)


def _disabled(stage: str, ds: str) -> str:
    """The page ``write_disabled`` writes for a stage turned off for ``ds``."""
    import tempfile

    from jaxconcepts.stages._common import write_disabled

    with tempfile.TemporaryDirectory() as tmp:
        write_disabled(stage, ds, md_files=[Path(tmp) / "page.md"])
        return (Path(tmp) / "page.md").read_text()


def c2mf_pages(ds: str) -> dict[str, str]:
    """``c2mf.md`` (and, when C2MF is off, ``c2mf_atlas.md``) and ``c2mf_alpha_sweep.md``."""
    from jaxconcepts import report

    d = REPORTS / ds
    metrics = _json(d / "c2mf.json")
    alpha = _params(ds)["c2mf"]["alpha"]
    rows = _json(d / "c2mf_alpha_sweep.json")["rows"]
    if metrics.get("enabled") is False:
        md = report.c2mf_disabled_markdown(ds, metrics["note"])
        return {"c2mf.md": md, "c2mf_atlas.md": md,
                "c2mf_alpha_sweep.md": report.alpha_sweep_markdown([], dataset=ds, alpha=alpha)}
    fig = "c2mf_figures/alpha_sweep.png" if rows else None
    return {"c2mf.md": report.markdown_report(metrics),
            "c2mf_alpha_sweep.md": report.alpha_sweep_markdown(rows, dataset=ds, alpha=alpha,
                                                               figure=fig)}


def compare_res(ds: str) -> dict:
    """``compare.json`` with its dicts in the order run_compare built them (the JSON's keys are
    sorted)."""
    from jaxconcepts.evaluation.clustering._compare import ALGORITHMS, findings

    res = _json(REPORTS / ds / "compare.json")
    if res.get("enabled") is False:
        return res
    res["table1"] = {m: {a: t[a] for a in ALGORITHMS if a in t} for m, t in res["table1"].items()}
    res["findings"] = {key: res["findings"][key] for key in findings(res)}
    return res


def compare_pages(ds: str) -> dict[str, str]:
    from jaxconcepts import report

    res = compare_res(ds)
    if res.get("enabled") is False:
        return {"compare.md": _disabled("compare", ds)}
    return {"compare.md": report.compare_markdown(res, ds, figure="compare_fig2.png")}


def ood_pages(ds: str) -> dict[str, str]:
    from jaxconcepts import report

    s = _json(REPORTS / ds / "ood.json")
    if s.get("enabled") is False:
        return {"ood.md": _disabled("ood", ds)}
    md = report.ood_markdown(s, ds, backbone=str(s["model"]),
                             min_images=s["settings"]["min_images"], figure="confidence.png")
    if "by_object" in s:
        md += "\n" + report.object_split_markdown(s["by_object"], ds)
    return {"ood.md": md}


def recovery_pages(ds: str) -> dict[str, str]:
    from jaxconcepts import report

    path = REPORTS / ds / "recovery.json"
    if not path.is_file():
        return {}
    out = _json(path)
    cfg = _params(ds)["recovery"]
    summaries, baseline = _recovery_inputs(ds)
    md = report.recovery_markdown(summaries, cfg, ds, baseline)
    if "recognition" in out:
        model = _params(ds)["extract"]["model"]
        md = report.recognition_markdown(out["recognition"], dataset=ds, model=model) + "\n" + md
    return {"recovery.md": md}


def _recovery_inputs(ds: str):
    """recovery.json's summaries and baseline in run_recovery's order (the JSON's keys are sorted:
    each method, its sub-concepts, then their random groupings; the claims in CLAIM_FIELDS
    order)."""
    from jaxconcepts.runners._recovery import CLAIM_FIELDS

    out = _json(REPORTS / ds / "recovery.json")
    cfg = _params(ds)["recovery"]
    order = [f"{r}{m}{s}" for m in cfg["methods"] for r in ("", "random_") for s in ("", "_sub")]
    for d in out["baseline"].values():
        if d.get("claims"):
            d["claims"] = {f: d["claims"][f] for f in CLAIM_FIELDS if f in d["claims"]}
    return {k: out[k] for k in order if k in out}, out["baseline"]


def atlas_inputs(ds: str):
    """The atlases of ``data/<ds>/c2mf/atlas.safetensors`` (what the page reads of each; for the
    frozen variants, the copy of its metadata and usage in ``golden/inputs/<ds>/``) and the
    page's other arguments, as the ``c2mf`` stage passes them; None when the file is absent."""
    from types import SimpleNamespace

    from safetensors import safe_open

    path = ROOT / "data" / ds / "c2mf" / "atlas.safetensors"
    if REPORTS == FROZEN:  # the variants: the atlas's metadata and usage as captured
        path = FROZEN / ds / "atlas.safetensors"
    if not path.is_file():
        return None
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["atlas"])
        usage = {m: f.get_tensor(f"{m}_usage") for m in meta}
    metrics = _json(REPORTS / ds / "c2mf.json")
    order = [m for m in metrics["settings"]["methods"] if m in meta]
    atlases = [SimpleNamespace(
        method=m, k=meta[m]["k"], usage=usage[m], labels=meta[m]["labels"],
        order=meta[m]["order"], class_names=meta[m]["class_names"], shared=meta[m]["shared"],
        names=[SimpleNamespace(words=[tuple(w) for w in n["words"]]) for n in meta[m]["names"]])
        for m in order]
    gate = _params(ds)["c2mf"]["gate_threshold"]
    figures = {(at.method, key): f"c2mf_figures/{key}_{at.method}.png" for at in atlases
               for key in ("atlas", "gates")}
    return atlases, figures, gate, metrics.get("naming_accuracy")


def atlas_pages(ds: str) -> dict[str, str]:
    from jaxconcepts import report

    if _json(REPORTS / ds / "c2mf.json").get("enabled") is False:
        return {}  # c2mf_pages checks the disabled page
    if _params(ds)["c2mf"]["atlas_k"] is None:
        return {"c2mf_atlas.md": report.no_atlas_markdown(ds)}
    inputs = atlas_inputs(ds)
    if inputs is None:
        return {}
    atlases, figures, gate, naming = inputs
    recipes = {at.method: report.recipe_table(
        at.usage, at.class_names, threshold=gate,
        names=[n.words[0][0] if at.shared else f"= {lab}" for n, lab in zip(at.names, at.labels)])
        for at in atlases}
    return {"c2mf_atlas.md": report.atlas_markdown(
        atlases, figures=figures, recipes=recipes, gate_threshold=gate, dataset=ds,
        clip_names={}, naming_accuracy=naming)}


def scoreboard_pages() -> dict[str, str]:
    """``reports/scoreboard/``: the synthetic page and each dataset's ground."""
    from jaxconcepts import report

    d = REPORTS / "scoreboard"
    out = {}
    out["scoreboard.md"] = report.scoreboard_markdown(_json(d / "scoreboard.json"))
    for ds in ("planted", "objects"):
        out[f"{ds}.md"] = report.ground_markdown(_json(d / f"{ds}.json"), ds)
    return out


def loss_csv_pages(ds: str) -> dict[str, str]:
    """``c2mf_loss.csv`` (the one CSV the report functions' neighbours write from histories):
    read back into histories and written again."""
    from jaxconcepts.evaluation import loss_csv

    lines = (REPORTS / ds / "c2mf_loss.csv").read_text().splitlines()
    ks = [int(h[1:]) for h in lines[0].split(",")[1:]]
    hist = {k: [] for k in ks}
    for line in lines[1:]:
        for k, cell in zip(ks, line.split(",")[1:]):
            if cell:
                hist[k].append(float(cell))
    return {"c2mf_loss.csv": loss_csv(hist)}


PAGES = (c2mf_pages, atlas_pages, compare_pages, ood_pages, recovery_pages, loss_csv_pages)


@pytest.mark.parametrize("folder", [*DATASETS, "scoreboard"])
def test_pages_are_byte_identical(folder):
    """Every page each dataset's data rebuilds (the committed reports are in git, so every
    folder has some); ``c2mf_atlas.md`` of an atlas is compared where ``data/`` holds the
    atlases (a DVC output), its layout is checked on every machine by the variant pages."""
    if folder == "scoreboard":
        got = scoreboard_pages()
    else:
        got = {name: text for fn in PAGES for name, text in fn(folder).items()}
    assert got, f"reports/{folder}: no page rebuilt"
    for name, text in got.items():
        want = (REPORTS / folder / name).read_text()
        assert text == want, f"reports/{folder}/{name} differs"


# -- branches the saved runs do not reach: variants of planted's c2mf.json, whose pages were
# -- captured from the Markdown functions before they moved into the report layer ---------------
GOLDEN = Path(__file__).parent / "golden"


def _c2mf_variants() -> dict[str, dict]:
    base = REPORTS / "planted" / "c2mf.json"
    out = {}
    m = _json(base)  # one test image per class: no per-class mean ± std
    for c in m["classes"]:
        c["n_test"] = 1
    out["thin_classes"] = m
    m = _json(base)  # two test images in all: no insertion / deletion table either
    m["classes"] = m["classes"][:2]
    for c in m["classes"]:
        c["n_test"] = 1
    out["two_images"] = m
    m = _json(base)  # the ablation's note, no figures, no seeds, nothing too small
    m["ablation"] = {"note": "too few classes"}
    m.pop("figures")
    m.pop("split_seeds")
    m["too_small_classes"] = [{"name": "tiny", "n_images": 1}]
    m["k_caps"] = {"craft": 4}
    out["ablation_note"] = m
    m = _json(base)  # no results at all
    m["results"], m["controls"], m["planted"] = {}, {}, None
    out["no_results"] = m
    return out


def _compare_variant() -> dict:
    res = compare_res("planted")  # no claims, one finding not measurable
    res.pop("claims")
    res["findings"][next(iter(res["findings"]))] = None
    return res


def _alpha_variant() -> list[dict]:
    rows = _json(REPORTS / "planted" / "c2mf_alpha_sweep.json")["rows"]
    for r in rows:  # rows of a run before the validation split; no α halves the open gates
        r.pop("n_validation_images", None)
        r["frac_open"] = 0.9
    return rows


def _ood_variants() -> dict[str, dict]:
    """ood.json variants: too small, no figure; object splits not judged, with an empty side,
    with undefined crops and with each combination of verdicts."""
    out = {}
    s = _json(REPORTS / "planted" / "ood.json")
    s["auroc"], s["by_object"]["settings"]["n_undefined"] = 0.5, 7
    s["by_object"].pop("loses_minus_keeps")
    out["small"] = s
    s = _json(REPORTS / "planted" / "ood.json")
    s["by_object"]["keeps"]["n_crops"] = 0
    s["by_object"]["all"]["n_crops"] = 0
    out["empty_keeps"] = s
    for a, b in (("tie", "tie"), ("holds", "tie"), ("fails", "holds"), ("tie", "fails")):
        s = _json(REPORTS / "planted" / "ood.json")
        d = s["by_object"]["loses_minus_keeps"]
        d["delta_mu"]["verdict"], d["auroc"]["verdict"] = a, b
        out[f"{a}_{b}"] = s
    return out


def _ood_variant_pages() -> dict[str, str]:
    from jaxconcepts import report

    out = {}
    for name, s in _ood_variants().items():
        md = report.ood_markdown(s, "toy", backbone="m", min_images=10 ** 6, figure=None)
        out[f"ood_{name}.md"] = md + "\n" + report.object_split_markdown(s["by_object"], "toy")
    return out


def _recovery_variants() -> dict[str, tuple]:
    """recovery.json variants: no baseline; a baseline without claims, sub-concepts or images."""
    cfg = _params("planted")["recovery"]
    out = {}
    summaries, base = _recovery_inputs("planted")
    out["no_baseline"] = (summaries, cfg, None)
    summaries, base = _recovery_inputs("planted")
    base = {k: v for k, v in base.items() if not k.endswith("_sub")}
    for d in base.values():
        d.pop("claims", None)
        d["n_baseline"] = 0
    out["bare_baseline"] = (summaries, cfg, base)
    return out


def _board_variants() -> tuple[dict, dict]:
    """A scoreboard with a target not reached and a row that does not beat its random
    counterpart; a ground with missing scores and each verdict against random."""
    sb = _json(REPORTS / "scoreboard" / "scoreboard.json")
    sb["rows"][0] = {k: sb["rows"][0][k] for k in ("method", "path", "data", "target")} | {
        "reached": False, "r2_at_range_end": 0.5}
    sb["rows"][1]["vs_random"]["low"] = -0.1
    gr = _json(REPORTS / "scoreboard" / "planted.json")
    gr["rows"][0]["dead"] = None
    gr["rows"][0]["vs_random"] = {}
    gr["rows"][1]["vs_random"]["mean_best_iou"] = {"mean": -0.2, "low": -0.3, "high": -0.1}
    gr["rows"][2]["vs_random"]["mean_best_iou"] = {"mean": 0.0, "low": -0.1, "high": 0.1}
    return sb, gr


def _atlas_variant():
    """planted's atlases with CLIP words on one method, no recipes, and a name accuracy with a
    note and no method; the naming table of one atlas's names."""
    from types import SimpleNamespace

    atlases, figures, gate, _ = atlas_inputs("planted")
    at = atlases[0]
    clip = {at.method: [[("cat", 0.5), ("dog", 0.25)]] * len(at.labels)}
    naming = {"top_concept": "the largest", "note": "the head has 3 outputs", "unmatched": [],
              "methods": {}}
    names = [SimpleNamespace(concept=f"C{j}", words=n.words, rows=[0] * (j + 1),
                             mean_code=0.123456 * (j + 1)) for j, n in enumerate(at.names)]
    return dict(atlases=atlases, figures={}, recipes={}, gate_threshold=0.25, dataset="toy",
                clip_names=clip, naming_accuracy=naming), names, at


#: the saved data the variants were built from when their pages were captured (planted's and the
#: scoreboard's JSON at that commit): the variants stay fixed when the pipeline reruns
FROZEN = GOLDEN / "inputs"

