"""``report/_c2mf.py``: the ``c2mf`` page (Tables 1–3 of the paper, per k)."""

from __future__ import annotations

from jaxconcepts import report
from tests.report.test_golden import GOLDEN


def test_variant_pages_are_byte_identical(frozen):
    """Thin classes, two test images, the ablation's note, no results (golden pages)."""
    for name, m in frozen._c2mf_variants().items():
        text = report.markdown_report(m)
        assert text == (GOLDEN / f"c2mf_{name}.md").read_text(), f"c2mf_{name}.md differs"


def test_disabled_markdown():
    md = report.c2mf_disabled_markdown("toy", "off: no labels")
    assert md.startswith("## C2MF evaluation (toy)")
    assert "**C2MF is off: no labels**" in md


def test_solved_note_lists_this_runs_atom_norms():
    metrics = {"results": {"c2mf": {"k4": {"solver": {"atom_norm": 2.5}},
                                    "k8": {"solver": {"atom_norm": 1.23456}},
                                    "k9": {"solver": {"atom_norm": 2.5}}}}}
    assert "(this run: ρ = 1.2346, 2.5)" in report.solved_note(metrics)
    assert "this run" not in report.solved_note()
    assert "this run" not in report.solved_note({"results": {}})


def test_per_class_table_needs_min_support(frozen):
    """A class with fewer than MIN_SUPPORT test images drops the per-class table; the page says
    how many test images the smallest class has."""
    m = frozen._json(frozen.FROZEN / "planted" / "c2mf.json")
    full = report.markdown_report(m)
    m["classes"][0]["n_test"] = report.MIN_SUPPORT - 1
    thin = report.markdown_report(m)
    note = f"the smallest class has {report.MIN_SUPPORT - 1} test image(s)"
    assert note not in full
    assert note in thin
