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

__all__ = ["build_report", "build_index", "main"]


def _pages(params: dict[str, Any]) -> list[tuple[str, str]]:
    names = list((params.get("datasets") or {}).keys())
    if not names:
        raise ValueError("params.yaml has no datasets; nothing to report")
    return [("index", "index.html")] + [(ds, f"{ds}.html") for ds in names]


def build_report(params: dict[str, Any], dataset: str, *, title: str,
                 reports: Path = REPORTS) -> str:
    """The HTML page of one dataset (written to ``reports/<dataset>.html``)."""
    from jaxconcepts import __version__
    from jaxconcepts.viz import dataset_section, render_report

    sec = dataset_section(dataset, dataset_params(params, dataset), reports=reports,
                          manifest=dataset_dir(dataset, "activations") / "manifest.json")
    # no timestamp: the same inputs give the same bytes (a reproducible DVC output)
    return render_report([sec], title=title, generated=__version__, pages=_pages(params))


def build_index(params: dict[str, Any], *, title: str) -> str:
    """The page linking every dataset's page (``reports/index.html``)."""
    from jaxconcepts import __version__
    from jaxconcepts.viz import render_report

    pages = _pages(params)[1:]
    return render_report([], title=title, generated=__version__, pages=pages,
                         explorers=[(f"{ds}: concept explorer", f"{ds}/explorer/index.html")
                                    for ds, _ in pages])


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
        from jaxconcepts.viz import missing_links

        bad = [link for link in missing_links(page, Path(REPORTS)) if not link.endswith(".html")]
        if bad:
            raise FileNotFoundError(
                f"the report links to {len(bad)} missing files, e.g. {bad[:5]}; rerun `figures`"
            )
        write_text(out, page)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
