"""``report/_boards.py``: the scoreboard's pages."""

from __future__ import annotations

from jaxconcepts import report
from tests.report.test_golden import GOLDEN


def test_variant_pages_are_byte_identical(frozen):
    """A target not reached, a row not beating random; a ground with each verdict (golden)."""
    sb, gr = frozen._board_variants()
    got = {"scoreboard_variant.md": report.scoreboard_markdown(sb),
           "ground_variant.md": report.ground_markdown(gr, "objects")}
    for name, text in got.items():
        assert text == (GOLDEN / name).read_text(), f"{name} differs"


def test_scoreboard_row_not_reached():
    row = {"method": "nmf", "path": "fit_all", "data": "x", "target": 0.9, "reached": False,
           "r2_at_range_end": 0.5}
    line = report.scoreboard_table([row]).splitlines()[2]
    assert line.startswith("| nmf | fit all (x) | 0.9 | not reached (R² 0.500 at the knob's")
    assert line.endswith("| | | | | | | |")


def test_scoreboard_row_verdict():
    row = {"method": "sae", "path": "p", "data": "d", "target": 0.9, "reached": True,
           "knob": "l1", "value": 0.001, "r2": 0.91, "mcc": 0.5, "f1": 0.25, "dead": 2.0,
           "vs_random": {"mean": 0.1, "low": 0.05, "high": 0.2},
           "stability": {"pw_mcc": 0.7, "shared": 0.5}}
    line = report.scoreboard_table([row]).splitlines()[2]
    assert line == ("| sae | p (d) | 0.9 | l1 = 0.001 | 0.910 | 0.500 | 0.25 | 2.0 "
                    "| +0.100 [+0.050, +0.200]: beats it | 0.700 | 0.50 |")
    row["vs_random"]["low"] = -0.01
    assert "does not beat it" in report.scoreboard_table([row])


def test_scoreboard_row_at_the_sparsest_end_says_so():
    row = {"method": "jumprelu", "path": "p", "data": "d", "target": 0.7, "reached": True,
           "at_sparsest_end": True, "knob": "sparsity", "value": 3.0, "r2": 0.81, "mcc": 0.75,
           "f1": 0.4, "dead": 0.0, "vs_random": {"mean": 0.3, "low": 0.2, "high": 0.4},
           "stability": {"pw_mcc": 0.7, "shared": 0.25}}
    line = report.scoreboard_table([row]).splitlines()[2]
    assert ("| sparsity = 3 (the knob's sparsest end: R² does not come down to the target) "
            "| 0.810 |") in line
    row["at_sparsest_end"] = False
    assert "sparsest" not in report.scoreboard_table([row])
