"""``report/_alpha.py``: the α sweep's page and table."""

from __future__ import annotations

from jaxconcepts import report
from tests.report.test_golden import GOLDEN

ROW = {"alpha": 0.5, "frac_open": 0.25, "concepts_per_class": 1.5, "k": 4, "mean_gate": 0.125,
       "acc_pred": 0.9, "acc_label": 0.8, "rel_mse": 0.01234, "acc_pred_open_only": None,
       "rel_mse_open_only": float("nan"), "n_steps": 7}


def test_variant_pages_are_byte_identical(frozen):
    """Rows of a run before the validation split, no α halving the open gates (golden pages)."""
    rows = frozen._alpha_variant()
    got = {"alpha_sweep_no_split.md": report.alpha_sweep_markdown(rows, dataset="toy", alpha=0.5),
           "alpha_sweep_table.md": report.alpha_sweep_table(rows, title="toy")}
    for name, text in got.items():
        assert text == (GOLDEN / name).read_text(), f"{name} differs"


def test_table_cells():
    md = report.alpha_sweep_table([ROW])
    line = next(x for x in md.splitlines() if x.startswith("| 0.5 |"))
    assert line == ("| 0.5 | 25.0% | 1.5/4 | 0.125 | 0.900 | 0.800 | 0.0123 | – | – | 7 |")


def test_markdown_names_first_alpha_that_halves_open_gates():
    rows = [ROW | {"alpha": 0.1, "frac_open": 0.8}, ROW | {"alpha": 0.2, "frac_open": 0.5},
            ROW | {"alpha": 3.0, "frac_open": 0.3}]
    md = report.alpha_sweep_markdown(rows, dataset="toy", alpha=0.2, figure="f.png")
    assert "f.png" in md
    assert "| 3 | 30.0% |" in md
    assert "first at α = 3 (30% open" in md


def test_markdown_without_rows_has_no_table():
    md = report.alpha_sweep_markdown([], dataset="toy", alpha=0.5)
    assert "|" not in md
    assert "The sweep is off" in md
