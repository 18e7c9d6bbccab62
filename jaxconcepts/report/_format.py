"""The report layer's one number formatter and one Markdown table helper.

Every number on a page goes through :func:`num` (``pm`` and ``interval`` are two of its
layouts: ``mean ± std`` and ``mean [lo, hi]``), every table through :func:`table`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["MISSING", "num", "pm", "interval", "table"]

#: what a missing number (None, NaN, ±inf) prints as
MISSING = "–"


def num(x, spec: str = ".3f", *, missing: str = MISSING, scale: float = 1.0) -> str:
    """``format(scale * x, spec)``, or ``missing`` when ``x`` is None or not finite."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return missing
    return format(scale * x if scale != 1.0 else x, spec)


def pm(mean, std, spec: str = ".3f", *, scale: float = 1.0, std_spec: str | None = None) -> str:
    """``"mean ± std"`` (each through :func:`num`; the std with ``std_spec`` when given, e.g.
    unsigned beside a signed mean); :data:`MISSING` when the mean is None."""
    if mean is None:
        return MISSING
    return f"{num(mean, spec, scale=scale)} ± {num(std, std_spec or spec, scale=scale)}"


def interval(d: Mapping | None, spec: str = ".3f", *, scale: float = 1.0) -> str:
    """``"mean [lo, hi]"`` of an interval dict (``mean``, ``lo``, ``hi``): :data:`MISSING` without
    a mean, the mean alone without bounds."""
    if not d or d.get("mean") is None:
        return MISSING
    m = num(d["mean"], spec, scale=scale)
    if d.get("lo") is None:
        return m
    return f"{m} [{num(d['lo'], spec, scale=scale)}, {num(d['hi'], spec, scale=scale)}]"


_ALIGN = {None: "---", "l": ":---", "c": ":---:", "r": "---:"}


def table(headers: Sequence, rows: Iterable[Sequence], *, align: Sequence | None = None) -> str:
    """A Markdown table: the header row, the separator and one line per row, without a final
    newline. Cells are ``str``-ed; a None cell is empty (``| |``). ``align``: per column None
    (default), ``"l"``, ``"c"`` or ``"r"``."""
    align = list(align) if align is not None else [None] * len(headers)
    if len(align) != len(headers):
        raise ValueError(f"align has {len(align)} entries for {len(headers)} columns")

    def line(cells):
        return "|" + "".join(" |" if c is None else f" {c} |" for c in cells)

    return "\n".join([line(headers), "|" + "".join(f"{_ALIGN[a]}|" for a in align),
                      *(line(r) for r in rows)])
