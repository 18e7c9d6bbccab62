"""``report/_recovery.py``: the ``recovery`` page (recognition and recovery tables)."""

from __future__ import annotations

from jaxconcepts import report
from tests.report.test_golden import GOLDEN


def test_variant_pages_are_byte_identical(frozen):
    """No baseline; a baseline without claims, sub-concepts or images; no recognition rows."""
    got = {f"recovery_{name}.md": report.recovery_markdown(summaries, cfg, "toy", base)
           for name, (summaries, cfg, base) in frozen._recovery_variants().items()}
    got["recognition_empty.md"] = report.recognition_markdown([], dataset="toy", model="m")
    for name, text in got.items():
        assert text == (GOLDEN / name).read_text(), f"{name} differs"


def test_recognition_table_cells():
    row = {"class": "cat", "n_images": 12, "wnids": [], "top": 3,
           "top1": {"mean": 0.5, "lo": 0.25, "hi": 0.75}, "top3": {"mean": 0.75},
           "answers": [("tabby", 4), ("lynx", 2)], "status": "ok"}
    md = report.recognition_markdown([row], dataset="toy", model="m")
    assert "top-3 [95 % CI]" in md
    assert "| cat | 12 | – | 0.500 [0.250, 0.750] | 0.750 | tabby (4), lynx (2) | ok |" in md
