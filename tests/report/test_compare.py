"""``report/_compare.py``: the ``compare`` stage's page."""

from __future__ import annotations

from jaxconcepts import report
from tests.report.test_golden import GOLDEN


def test_variant_pages_are_byte_identical(frozen):
    """No claims, one finding not measurable (golden page)."""
    md = report.compare_markdown(frozen._compare_variant(), "toy")
    assert md == (GOLDEN / "compare_no_claims.md").read_text()


def test_findings_verdicts_and_figure(frozen):
    res = frozen.compare_res("planted")
    keys = list(res["findings"])
    res["findings"][keys[0]] = None
    res["findings"][keys[1]] = False
    md = report.compare_markdown(res, "toy", figure="fig2.png")
    assert "n/a" in md
    assert "**does not hold**" in md
    assert "fig2.png" in md
    assert "fig2.png" not in report.compare_markdown(res, "toy")
