"""What every DVC stage shares: argv parsing and its typed section of ``params.yaml``.

A stage is a thin ``main(argv)``: parse ``--params`` (default ``params.yaml``) and ``--dataset``,
read its params with :func:`stage_config` (the dataset's overrides applied, checked against the
schema in :mod:`jaxconcepts._params`), call library functions, write outputs atomically with
:mod:`jaxconcepts._io`. Paths follow one layout, ``data/<dataset>/<stage>``, defined here once
(``dataset_dir``) and repeated only in ``dvc.yaml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jaxconcepts._params import check_value, dataset_params, load_params, parse_section

__all__ = [
    "stage_parser",
    "stage_config",
    "load_params",
    "dataset_params",
    "dataset_dir",
    "write_disabled",
    "REPORTS",
]

REPORTS = Path("reports")


def stage_parser(description: str, *, dataset: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if dataset:
        p.add_argument("--dataset", default="photos", help="dataset name in params.yaml datasets")
    return p


def stage_config(args: argparse.Namespace, *sections: str) -> Any:
    """The typed params sections of a stage: ``cfg = stage_config(args, "figures")``.

    ``args`` is the parsed ``stage_parser`` namespace (``params``, and ``dataset`` when the stage
    has one: the dataset's overrides are applied). ``"seed"`` names the top-level seed. One name
    gives one section (a frozen dataclass of :mod:`jaxconcepts._params`); several give a tuple.

    Raises:
      ValueError: unknown dataset, section or key, a missing key, or a wrong value (the message
        names the valid keys or choices).
    """
    if not sections:
        raise ValueError("stage_config needs at least one section name")
    params = load_params(args.params)
    dataset = getattr(args, "dataset", None)
    params = dataset_params(params, dataset) if dataset is not None else params
    out = []
    for name in sections:
        if name == "seed":
            out.append(check_value(params.get("seed"), int, "seed"))
            continue
        if name not in params:
            raise ValueError(f"params file {str(args.params)!r} has no section {name!r}")
        out.append(parse_section(name, params[name]))
    return out[0] if len(out) == 1 else tuple(out)


def dataset_dir(dataset: str, stage: str | None = None) -> Path:
    d = Path("data") / dataset
    return d / stage if stage else d


def write_disabled(stage: str, dataset: str, *, dirs=(), json_files=(), md_files=(),
                   csv_files=(), png_files=()) -> str:
    """Write the outputs of a stage turned off for one dataset (``<stage>.enabled: false``),
    each saying so, so that DVC finds every declared output and the report shows why it is
    empty. Returns the reason.

    ``dirs`` get a ``DISABLED.txt``; JSON files ``{"enabled": false, "note": reason}``; Markdown
    files a section with the reason; CSV files the given header line (``(path, header)`` pairs);
    PNG files a small figure with the reason.
    """
    from jaxconcepts._io import write_json, write_text

    reason = (f"`{stage}` is turned off for dataset {dataset!r} ({stage}.enabled: false in its "
              "params.yaml entry); nothing was computed")
    for d in dirs:
        write_text(Path(d) / "DISABLED.txt", reason + "\n")
    for f in json_files:
        write_json(f, {"dataset": dataset, "enabled": False, "note": reason})
    for f in md_files:
        write_text(f, f"## {stage} ({dataset})\n\n**Not run:** {reason}.\n")
    for f, header in csv_files:
        write_text(f, header + "\n")
    for f in png_files:  # matplotlib directly: this module's deps stay the stages' common ones
        from matplotlib.figure import Figure

        from jaxconcepts._io import atomic_path

        fig = Figure(figsize=(5, 0.8))
        fig.text(0.5, 0.5, f"{stage} is turned off for {dataset}", ha="center", va="center")
        with atomic_path(f) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
    return reason
