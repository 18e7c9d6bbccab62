"""Stage ``report``: ``reports/<ds>.html`` for one dataset, or ``reports/index.html`` (``--index``).

``jaxconcepts report --dataset <ds>`` reads only ``reports/<ds>/`` (the folder ``dvc.yaml``
declares as its dependency) and the store's manifest: the run's model and parameters, every
Markdown table found in ``reports/<ds>/*.md`` (the clustering comparison ``compare.md`` first; later
stages plug in by dropping a ``.md`` there), every ``reports/<ds>/*.json`` (collapsed), and
per-image galleries from ``reports/<ds>/figures/figures.json`` (CGAP and CPHA rows, sub-concepts in
``<details>``, flags with their reason). Images are linked by relative paths, and the stage checks
that each one exists. ``jaxconcepts report --index`` writes the page that links every dataset's
page of params.yaml. ``jaxconcepts report --scoreboard`` writes ``reports/scoreboard.html`` from the
second pipeline's tables (``reports/scoreboard/*.md``, ``dvc repro scoreboard/dvc.yaml``); every
page links it. Params (section ``report``): ``title``.
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

__all__ = ["build_report", "build_index", "build_scoreboard", "main"]


#: the second pipeline's page (``--scoreboard``): its tables, in this order, with their titles
SCOREBOARD = "scoreboard.html"
_BOARDS = (("scoreboard.md", "Synthetic ground: known atoms"),
           ("planted.md", "Planted images: known parts"),
           ("objects.md", "Real photos (objects): known object masks"))


def _datasets(params: dict[str, Any]) -> list[str]:
    names = list((params.get("datasets") or {}).keys())
    if not names:
        raise ValueError("params.yaml has no datasets; nothing to report")
    return names


def _pages(params: dict[str, Any]) -> list[tuple[str, str]]:
    return ([("index", "index.html")] + [(ds, f"{ds}.html") for ds in _datasets(params)]
            + [("methods' scoreboard", SCOREBOARD)])


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

    return render_report([], title=title, generated=__version__, pages=_pages(params)[1:],
                         explorers=[(f"{ds}: concept explorer", f"{ds}/explorer/index.html")
                                    for ds in _datasets(params)])


def build_scoreboard(params: dict[str, Any], *, title: str, reports: Path = REPORTS) -> str:
    """The methods' scoreboard page (``reports/scoreboard.html``): the second pipeline's tables
    and figures (``reports/scoreboard/``), one section.

    Raises:
      FileNotFoundError: no table of the scoreboard (run ``dvc repro scoreboard/dvc.yaml``).
    """
    from jaxconcepts import __version__
    from jaxconcepts.viz import render_report

    folder = Path(reports) / "scoreboard"
    tables = [{"title": t, "markdown": (folder / f).read_text(), "base": "scoreboard/"}
              for f, t in _BOARDS if (folder / f).is_file()]
    if not tables:
        raise FileNotFoundError(f"no scoreboard table in {folder}: run `dvc repro "
                                "scoreboard/dvc.yaml` first")
    section = {"name": "methods' scoreboard", "tables": tables,
               "heading": "Every method on three grounds with known concepts (the second "
                          "pipeline: dvc repro scoreboard/dvc.yaml)"}
    return render_report([section], title=title, generated=__version__, pages=_pages(params))


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.set_defaults(dataset=None)
    parser.add_argument("--index", action="store_true", help="write reports/index.html")
    parser.add_argument("--scoreboard", action="store_true",
                        help="write reports/scoreboard.html (the second pipeline's page)")
    args = parser.parse_args(argv)
    if args.index + args.scoreboard + (args.dataset is not None) != 1:
        parser.error("give exactly one of --dataset NAME, --index or --scoreboard")
    params = load_params(args.params)
    title = stage_config(args, "report").title
    if args.index:
        out = Path(REPORTS) / "index.html"
        write_text(out, build_index(params, title=title))  # links the pages report@<ds> writes
    elif args.scoreboard:
        out = Path(REPORTS) / SCOREBOARD
        page = build_scoreboard(params, title=f"{title}: methods' scoreboard")
        _check_links(page)
        write_text(out, page)
    else:
        out = Path(REPORTS) / f"{args.dataset}.html"
        page = build_report(params, args.dataset, title=f"{title}: {args.dataset}")
        _check_links(page)
        write_text(out, page)
    print(f"wrote {out}")


def _check_links(page: str) -> None:
    from jaxconcepts.viz import missing_links

    bad = [link for link in missing_links(page, Path(REPORTS)) if not link.endswith(".html")]
    if bad:
        raise FileNotFoundError(
            f"the report links to {len(bad)} missing files, e.g. {bad[:5]}; rerun `figures`"
        )


if __name__ == "__main__":
    main()
