"""``report/_atlas.py``: the concept atlas page, its recipe and naming tables."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from jaxconcepts import report
from tests.report.test_golden import GOLDEN


def test_variant_pages_are_byte_identical(frozen):
    """No atlas anywhere; planted's atlases (the frozen copy of their metadata and usage) with CLIP
    words, the naming table and a recipe table (golden pages)."""
    got = {"atlas_none.md": report.no_atlas_markdown("toy")}
    kw, names, at = frozen._atlas_variant()
    got["atlas_variant.md"] = report.atlas_markdown(**kw)
    got["naming_table.md"] = (report.naming_table(names, title="toy")
                              + report.naming_table(names[:2]))
    got["recipe_table.md"] = report.recipe_table(at.usage, at.class_names, threshold=0.9)
    for name, text in got.items():
        assert text == (GOLDEN / name).read_text(), f"{name} differs"


def test_recipe_table_cells():
    gates = [[0.1, 0.8, 0.5], [0.0, 0.2, 0.3]]
    md = report.recipe_table(gates, ["a", "b"], threshold=0.5, names=["x", "y", "z"])
    lines = md.splitlines()
    assert lines[0] == "| class | open concepts (gate ≥ 0.5) | recipe |"
    assert lines[2] == "| a | 2/3 | C1 y (0.80), C2 z (0.50) |"
    assert lines[3] == "| b | 0/3 | – |"


@pytest.mark.parametrize(("gates", "classes", "names", "match"), [
    (np.zeros(3), ["a"], None, "shape"),
    (np.zeros((2, 3)), ["a"], None, "class_names has 1"),
    (np.zeros((1, 3)), ["a"], ["x"], "names has 1"),
])
def test_recipe_table_rejects_bad_input(gates, classes, names, match):
    with pytest.raises(ValueError, match=match):
        report.recipe_table(gates, classes, threshold=0.5, names=names)


def test_atlas_markdown_usage_and_figures():
    at = SimpleNamespace(method="c2mf", k=2, usage=np.array([[0.9, 0.1], [0.4, 0.6]]),
                         labels=["L0", "L1"], order=[1, 0], class_names=["cat", "dog"],
                         names=[SimpleNamespace(words=[("fur", 0.5)]),
                                SimpleNamespace(words=[("ear", 0.25), ("eye", 0.125)])])
    md = report.atlas_markdown([at], figures={("c2mf", "atlas"): "a.png"}, recipes={},
                               gate_threshold=0.5, dataset="toy")
    assert "### C2MF (shared dictionary, gated), k = 2" in md
    assert "![c2mf concept atlas](a.png)" in md
    assert "c2mf class × concept usage" not in md  # no gates figure given
    body = [x for x in md.splitlines() if x.startswith("| L")]
    assert body == ["| L1 | ear (0.25), eye (0.12) | dog (0.60) |",
                    "| L0 | fur (0.50) | cat (0.90) |"]
    assert "Recipes" not in md


def test_naming_table_row():
    n = SimpleNamespace(concept="C3", words=[("cat", 0.5)], rows=[1, 2], mean_code=0.0123456)
    md = report.naming_table([n])
    assert "| C3 | cat (0.50) | 2 | 0.0123 |" in md
