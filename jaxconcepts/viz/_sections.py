"""One dataset's section of the HTML report, read from what the stages left on disk.

It reads the activation store's manifest and ``reports/<ds>/`` (every ``*.md`` table, every
``*.json``, and ``figures/figures.json`` for the per-image galleries), nothing else; the section is
the plain dict that :func:`jaxconcepts.viz.render_report` renders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jaxconcepts.viz._report import report_links

__all__ = ["dataset_section", "missing_links"]


def _summary(manifest: dict[str, Any]) -> list[tuple[str, Any]]:
    w = manifest.get("weights") or {}
    prep = manifest.get("preprocessing") or {}
    out = [
        ("model", manifest.get("model")),
        (
            "weights",
            f"{w.get('source')}"
            + (
                f" ({Path(w['path']).name}, sha256 {str(w.get('sha256'))[:12]})"
                if w.get("path")
                else ""
            ),
        ),
        ("layer (g / h split)", manifest.get("layer")),
        ("activation shape (C, H, W)", manifest.get("shape")),
        ("head h", (manifest.get("head") or {}).get("kind")),
        ("classes", (manifest.get("head") or {}).get("num_classes")),
        (
            "input",
            f"{prep.get('input_size')} crop_pct={prep.get('crop_pct')} {prep.get('interpolation')}",
        ),
        ("images", manifest.get("n_images")),
    ]
    return out


def _image_entry(e: dict, ds: str, methods: list[str]) -> dict:
    cap = f"predicted: {e['pred_name']} (class {e['pred']})"
    if e["target"] != e["pred"]:
        cap += f"; target: {e['target_name']} (class {e['target']})"
    cap += f"; p_t = {e['p_t']:.4f}"
    if e.get("label_name"):
        cap += f"; label: {e['label_name']}"
    for m in methods:
        info = e["methods"].get(m)
        if info:
            cap += f"; {m.upper()}: {info['n_concepts']} concepts"
    files = e.get("files", {})
    rel = f"{ds}/figures/"
    rows = [
        {"label": f"{m.upper()} concepts (by decreasing importance)", "src": rel + files[m]}
        for m in methods
        if m in files
    ]
    details = [
        {"label": f"{m.upper()} sub-concepts", "src": rel + files[f"{m}_sub"]}
        for m in methods
        if f"{m}_sub" in files
    ]
    if "compare" in files:
        details.append(
            {"label": "CGAP and CPHA side by side (paper Fig. 6)", "src": rel + files["compare"]}
        )
    return {
        "title": f"#{e['index']} {e['name']}",
        "caption": cap,
        "flags": e.get("flags", []),
        "rows": rows,
        "details": details,
    }


def dataset_section(ds: str, ds_params: dict[str, Any], *, manifest: str | Path,
                    reports: str | Path) -> dict:
    """The report section of dataset ``ds`` from what the stages left on disk (missing parts
    noted): the store's ``manifest`` (path) and ``reports/<ds>/`` only, which is what ``dvc.yaml``
    declares as the report's deps. ``ds_params`` is the dataset's merged params, shown as is."""
    sec: dict[str, Any] = {
        "name": ds,
        "params": ds_params,
        "notes": [],
        "tables": [],
        "json": [],
        "images": [],
    }
    mpath = Path(manifest)
    if mpath.is_file():
        man = json.loads(mpath.read_text())
        sec["summary"] = _summary(man)
        for sk in man.get("skipped") or []:
            sec["notes"].append(f"skipped at extraction: {sk.get('path')}: {sk.get('reason')}")
    else:
        sec["notes"].append(f"no activation store at {mpath.parent}: run `extract` first")
    d = Path(reports) / ds
    if (d / "explorer" / "index.html").is_file():
        sec["explorer"] = f"{ds}/explorer/index.html"
    elif (d / "explorer" / "DISABLED.txt").is_file():
        sec["notes"].append((d / "explorer" / "DISABLED.txt").read_text().strip())
    else:
        sec["notes"].append(f"no concept explorer at {d / 'explorer'}: run `explore` first")
    mds = sorted(d.glob("*.md"), key=lambda p: (p.name != "compare.md", p.name))
    sec["tables"] = [{"title": p.name, "markdown": p.read_text(), "base": f"{ds}/"} for p in mds]
    sec["json"] = [{"title": p.name, "text": p.read_text()} for p in sorted(d.glob("*.json"))]
    fpath = d / "figures" / "figures.json"
    off = d / "figures" / "DISABLED.txt"
    if off.is_file():  # figures.enabled: false for this dataset
        sec["notes"].append(off.read_text().strip())
        return sec
    if not fpath.is_file():
        sec["notes"].append(f"no figures at {fpath}: run `figures` first")
        return sec
    fig = json.loads(fpath.read_text())
    methods = fig.get("methods", [])
    drawn = [e for e in fig["images"] if e.get("files")]
    undrawn_flagged = [e for e in fig["images"] if not e.get("files") and e.get("flags")]
    if len(drawn) < fig["n_images"]:
        sec["notes"].append(
            f"figures drawn for {len(drawn)} of {fig['n_images']} images (figures.max_images)"
        )
    sec["images"] = [_image_entry(e, ds, methods) for e in drawn + undrawn_flagged]
    return sec


def missing_links(page: str, base: Path) -> list[str]:
    """Relative links of the page that do not exist under ``base`` (anchors are checked too)."""
    ids = set()
    for part in page.split('id="')[1:]:
        ids.add(part.split('"', 1)[0])
    bad = []
    for link in report_links(page):
        if link.startswith("#"):
            if link[1:] not in ids:
                bad.append(link)
        elif "://" in link or link.startswith("//") or not (base / link).is_file():
            bad.append(link)
    return bad
