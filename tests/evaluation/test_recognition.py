"""Per-class recognition of the objects benchmark (jaxconcepts.evaluation._recognition)."""

import numpy as np
import pytest

from jaxconcepts.evaluation._recognition import recognition
from jaxconcepts.report import recognition_markdown

SYN = ["n0", "n1", "n2", "n3", "n4", "n5"]


def _logits(top1, n_out=6):
    x = np.zeros((len(top1), n_out))
    x[np.arange(len(top1)), top1] = 5.0
    x[:, 5] = 1.0  # a constant runner-up: in every top-2
    return x


def test_shares_status_and_answers():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    top1 = [1, 1, 1, 0, 3, 3, 2]  # class 0: 3 of 4 answer n1; class 1: never n4 at top-1
    rows = recognition(_logits(top1), labels, ["a", "b", "c"], [["n1"], ["n4", "n5"], []], SYN,
                       lemmas=[f"L{i}" for i in range(6)], top=2)
    a, b, c = rows
    assert a["top1"]["mean"] == 0.75 and a["top2"]["mean"] == 0.75 and a["status"] == "recognised"
    assert a["answers"][0] == ["L1", 3]
    assert b["top1"]["mean"] == 0.0 and b["top2"]["mean"] == 1.0  # n5 is always second
    assert b["status"] == "recognised"
    assert c["status"] == "not an ImageNet class" and c["top1"] is None
    md = recognition_markdown(rows, dataset="toy", model="m")
    assert "| a | 4 | n1 | 0.750 [" in md and "not an ImageNet class" in md


def test_not_recognised_below_half():
    rows = recognition(_logits([0, 0, 0]), np.zeros(3, int), ["a"], [["n3"]], SYN, top=1)
    assert rows[0]["status"] == "not recognised" and rows[0]["top1"]["hi"] == 0.0


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match=r"synsets \['n9'\] are not outputs"):
        recognition(_logits([0]), np.zeros(1, int), ["a"], [["n9"]], SYN)
    with pytest.raises(ValueError, match="outside the 1 classes"):
        recognition(_logits([0]), np.array([3]), ["a"], [["n1"]], SYN)
    with pytest.raises(ValueError, match="labels"):
        recognition(_logits([0, 1]), np.zeros(3, int), ["a"], [["n1"]], SYN)
