"""The report layer's formatter, table helper and templates (jaxconcepts/report/)."""

from __future__ import annotations

import math
from importlib import resources

import pytest

from jaxconcepts.report import interval, num, pm, render, table


def test_num_formats_and_marks_missing_values():
    assert num(0.12345) == "0.123" and num(3, ".1f") == "3.0" and num(0.5, ".0%") == "50%"
    assert num(None) == num(math.nan) == num(math.inf) == "–"
    assert num(None, missing="n/a") == "n/a"
    assert num(0.123, ".1f", scale=100) == "12.3"


def test_pm_and_interval_layouts():
    assert pm(0.5, 0.25) == "0.500 ± 0.250" and pm(None, 1.0) == "–"
    assert pm(0.5, 0.25, "+.1f", std_spec=".1f") == "+0.5 ± 0.2"
    assert interval({"mean": 0.5, "lo": 0.25, "hi": 0.75}, "+.2f") == "+0.50 [+0.25, +0.75]"
    assert interval({"mean": 0.5, "lo": None}) == "0.500"
    assert interval(None) == interval({"mean": None}) == "–"


def test_table_rows_alignment_and_empty_cells():
    assert table(["a", "b"], [[1, None], ["x", ""]]) == "| a | b |\n|---|---|\n| 1 | |\n| x |  |"
    assert table(["a", "b"], [], align=["l", "r"]) == "| a | b |\n|:---|---:|"
    with pytest.raises(ValueError, match="align"):
        table(["a"], [], align=["l", "r"])


def test_templates_ship_in_the_package_and_keep_their_whitespace():
    files = {p.name for p in resources.files("jaxconcepts.report").joinpath("templates").iterdir()}
    assert {"c2mf.md.j2", "compare.md.j2", "ood.md.j2", "recovery.md.j2"} <= files
    assert render("c2mf_disabled.md.j2", dataset="d", note="off.") == (
        "## C2MF evaluation (d)\n\n**C2MF is off.**\n")


def test_package_data_lists_the_templates():
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "templates/*.md.j2" in cfg["tool"]["setuptools"]["package-data"]["jaxconcepts.report"]


def test_split_seed_columns_follow_the_evaluation_fields():
    from jaxconcepts.evaluation.c2mf._split_seeds import FIELDS
    from jaxconcepts.report._c2mf import SEED_FIELDS

    assert SEED_FIELDS == tuple((f, label) for f, _, _, label in FIELDS)
