"""The α sweep's page (``c2mf_alpha_sweep.md``) and table, from the rows of
:func:`jaxconcepts.evaluation.alpha_sweep` (as saved in ``c2mf_alpha_sweep.json``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jaxconcepts.report._format import num, table
from jaxconcepts.report._render import render

__all__ = ["alpha_sweep_table", "alpha_sweep_markdown"]


def _table(rows: Sequence[Mapping]) -> str:
    return table(
        ["α", "open gates", "concepts / class", "mean gate", "acc (pred)", "acc (label)",
         "rel. MSE", "acc (pred), open only", "rel. MSE, open only", "steps"],
        [[f"{r['alpha']:g}", num(r["frac_open"], ".1%"),
          f"{num(r['concepts_per_class'], '.1f')}/{r['k']}", num(r["mean_gate"]),
          num(r["acc_pred"]), num(r["acc_label"]), num(r["rel_mse"], ".4f"),
          num(r["acc_pred_open_only"]), num(r["rel_mse_open_only"], ".4f"), r["n_steps"]]
         for r in rows])


def alpha_sweep_table(rows: Sequence[Mapping], *, title: str = "") -> str:
    """Markdown table of :func:`jaxconcepts.evaluation.alpha_sweep` rows, with its legend."""
    return render("alpha_sweep_table.md.j2", title=title, table=_table(rows))


def alpha_sweep_markdown(rows: Sequence[Mapping], *, dataset: str, alpha: float,
                         figure: str | None = None) -> str:
    """The α sweep section: the table, the figure and how to read it (empty rows: sweep off)."""
    first = next((r for r in rows if r["frac_open"] < rows[0]["frac_open"] * 0.5), None)
    return render("alpha_sweep.md.j2", dataset=dataset, rows=rows, alpha=f"{alpha:g}",
                  figure=figure, first=first,
                  table=alpha_sweep_table(rows).rstrip() if rows else "")
