"""Stage ``report``: ``reports/<ds>.html`` for one dataset, or ``reports/index.html`` (``--index``).

``jaxconcepts report --dataset <ds>`` reads only ``reports/<ds>/`` (the folder ``dvc.yaml``
declares as its dependency) and the store's manifest: the run's model and parameters, every
Markdown table found in ``reports/<ds>/*.md`` (the clustering comparison ``compare.md`` first; later
stages plug in by dropping a ``.md`` there), every ``reports/<ds>/*.json`` (collapsed), and
per-image galleries from ``reports/<ds>/figures/figures.json`` (CGAP and CPHA rows, sub-concepts in
``<details>``, flags with their reason). Images are linked by relative paths, and the stage checks
that each one exists. ``jaxconcepts report --index`` writes the page that links every dataset's
page of params.yaml. Params (section ``report``): ``title``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jaxconcepts._io import write_text
from jaxconcepts.stages._common import (
    REPORTS,
    dataset_dir,
    dataset_params,
    load_params,
    stage_config,
    stage_parser,
)

__all__ = ["build_report", "build_index", "dataset_section", "main", "missing_links"]


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


def dataset_section(ds: str, params: dict[str, Any], reports: Path = REPORTS) -> dict:
    """The report section of one dataset from what the stages left on disk (missing parts noted)."""
    ds_params = dataset_params(params, ds)
    sec: dict[str, Any] = {
        "name": ds,
        "params": ds_params,
        "notes": [],
        "tables": [],
        "json": [],
        "images": [],
    }
    mpath = dataset_dir(ds, "activations") / "manifest.json"
    if mpath.is_file():
        man = json.loads(mpath.read_text())
        sec["summary"] = _summary(man)
        for sk in man.get("skipped") or []:
            sec["notes"].append(f"skipped at extraction: {sk.get('path')}: {sk.get('reason')}")
    else:
        sec["notes"].append(f"no activation store at {mpath.parent}: run `extract` first")
    d = Path(reports) / ds
    mds = sorted(d.glob("*.md"), key=lambda p: (p.name != "compare.md", p.name))
    sec["tables"] = [{"title": p.name, "markdown": p.read_text(), "base": f"{ds}/"} for p in mds]
    sec["json"] = [{"title": p.name, "text": p.read_text()} for p in sorted(d.glob("*.json"))]
    fpath = d / "figures" / "figures.json"
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


def _pages(params: dict[str, Any]) -> list[tuple[str, str]]:
    names = list((params.get("datasets") or {}).keys())
    if not names:
        raise ValueError("params.yaml has no datasets; nothing to report")
    return [("index", "index.html")] + [(ds, f"{ds}.html") for ds in names]


def build_report(params: dict[str, Any], dataset: str, *, title: str,
                 reports: Path = REPORTS) -> str:
    """The HTML page of one dataset (written to ``reports/<dataset>.html``)."""
    from jaxconcepts import __version__
    from jaxconcepts.viz import render_report

    # no timestamp: the same inputs give the same bytes (a reproducible DVC output)
    return render_report([dataset_section(dataset, params, reports)], title=title,
                         generated=__version__, pages=_pages(params))


def build_index(params: dict[str, Any], *, title: str) -> str:
    """The page linking every dataset's page (``reports/index.html``)."""
    from jaxconcepts import __version__
    from jaxconcepts.viz import render_report

    return render_report([], title=title, generated=__version__, pages=_pages(params)[1:])


def missing_links(page: str, base: Path) -> list[str]:
    """Relative links of the page that do not exist under ``base`` (anchors are checked too)."""
    from jaxconcepts.viz import report_links

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


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.set_defaults(dataset=None)
    parser.add_argument("--index", action="store_true", help="write reports/index.html")
    args = parser.parse_args(argv)
    if args.index == (args.dataset is not None):
        parser.error("give exactly one of --dataset NAME or --index")
    params = load_params(args.params)
    title = stage_config(args, "report").title
    if args.index:
        out = Path(REPORTS) / "index.html"
        write_text(out, build_index(params, title=title))  # links the pages report@<ds> writes
    else:
        out = Path(REPORTS) / f"{args.dataset}.html"
        page = build_report(params, args.dataset, title=f"{title}: {args.dataset}")
        bad = [link for link in missing_links(page, Path(REPORTS)) if not link.endswith(".html")]
        if bad:
            raise FileNotFoundError(
                f"the report links to {len(bad)} missing files, e.g. {bad[:5]}; rerun `figures`"
            )
        write_text(out, page)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
