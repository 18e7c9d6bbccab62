"""``report/_ood.py``: the ``ood`` page (confidence table and the object split)."""

from __future__ import annotations

from jaxconcepts import report
from tests.report.test_golden import GOLDEN

SUMMARY = {"n_in": 10, "n_out": 40, "mu_full": 0.75, "mu_crops": 0.25, "delta_mu": 0.5,
           "auroc": 0.875, "fpr95": 0.125, "aupr_in": 0.5, "aupr_out": None, "agree": 0.5}


def test_variant_pages_are_byte_identical(frozen):
    """Too small, no figure; object splits not judged, with an empty side and each combination of
    verdicts (golden pages)."""
    for name, text in frozen._ood_variant_pages().items():
        assert text == (GOLDEN / name).read_text(), f"{name} differs"


def test_ood_table_our_row_then_paper_rows():
    md = report.ood_table({"toy": SUMMARY}, backbones={"toy": "net"})
    rows = [x for x in md.splitlines() if x.startswith(("| ours", "| paper"))]
    assert rows[0] == ("| ours | toy | net | 10 | 40 | 0.750 | 0.250 | 0.500 | 0.875 | 0.125 "
                       "| 0.500 | – |")
    assert len(rows) == 1 + len(report.PAPER_TABLE4)
    assert "| paper | ImageNet | NF-ResNet50 | – | – | 0.88 | 0.46 | 0.41 | 0.880 |" in md


def test_ood_markdown_verdict_and_small_warning():
    big = report.ood_markdown(SUMMARY, "toy", backbone="net", min_images=5)
    assert "it reproduces the paper's finding" in big
    assert "Too small" not in big
    assert "50% of the crops keep" in big
    low = report.ood_markdown(SUMMARY | {"auroc": 0.6}, "toy", backbone="net", min_images=5)
    assert "does not reproduce" in low
    small = report.ood_markdown(SUMMARY, "toy", backbone="net", min_images=100)
    assert "**Too small to conclude:** toy has 10 images" in small
