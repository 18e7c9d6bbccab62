"""Concept naming in the classifier's label space: hand-built heads whose answer is known."""

import numpy as np
import pytest

from jaxconcepts.evaluation.c2mf._naming import (
    name_accuracy,
    name_concepts,
    top_patches,
)
from jaxconcepts.report import naming_table
from jaxconcepts.store import HeadParams


def test_top_patches_order_ties_and_groups():
    U = np.array([[0.0, 1.0], [3.0, 1.0], [2.0, 0.5], [3.0, 0.0]])
    np.testing.assert_array_equal(top_patches(U, top=2), [[1, 3], [0, 1]])  # ties: lower first
    g = np.array([0, 1, 1, 1])
    np.testing.assert_array_equal(top_patches(U, top=2, groups=g, per_group=1), [[1, 0], [0, 1]])
    out = top_patches(U, top=3, groups=np.zeros(4), per_group=1)
    assert (out[:, 1:] == -1).all()
    with pytest.raises(ValueError, match="top=5"):
        top_patches(U, top=5)


def test_names_follow_the_head():
    # 3 classes, channel c votes for class c; concept j's top rows are the rows hot in channel j
    rng = np.random.default_rng(0)
    n, C = 60, 3
    rows = np.abs(rng.normal(0, 0.1, (n, C))).astype(np.float32)
    hot = np.arange(n) % 3
    rows[np.arange(n), hot] += 5.0
    codes = np.eye(3)[hot] + rng.uniform(0, 0.01, (n, 3))
    codes = codes[:, [2, 0, 1]]  # concept 0 <-> channel 2, concept 1 <-> 0, concept 2 <-> 1
    head = HeadParams(np.eye(3, dtype=np.float32) * 2.0, np.zeros(3, np.float32))
    names = ["cat", "dog", "cow"]
    out = name_concepts(rows, codes, head, label_names=names, top=5, n_words=2)
    assert [o.words[0][0] for o in out] == ["cow", "cat", "dog"]
    for o in out:  # the words' head outputs, in the words' order
        assert [names[i] for i in o.outputs] == [w for w, _ in o.words]
    for o in out:
        assert o.words[0][1] > 0.9 and o.words[0][1] >= o.words[1][1]
        assert len(o.rows) == 5
    # a callable h gives the same answer
    out2 = name_concepts(rows, codes, h=lambda r: r @ (2 * np.eye(3)).T, label_names=names,
                         top=5, n_words=2)
    for a, b in zip(out, out2):
        assert a.words[0][0] == b.words[0][0]
        assert a.words[0][1] == pytest.approx(b.words[0][1], rel=1e-5)
    md = naming_table(out, title="toy")
    assert "| 0 | cow (" in md


def test_errors():
    head = HeadParams(np.eye(3, dtype=np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="disagree"):
        name_concepts(np.zeros((4, 3)), np.zeros((5, 2)), head, label_names="abc", top=1, n_words=1)
    with pytest.raises(ValueError, match="exactly one"):
        name_concepts(np.zeros((4, 3)), np.zeros((4, 2)), label_names="abc", top=1, n_words=1)
    with pytest.raises(ValueError, match="n_words"):
        name_concepts(np.zeros((4, 3)), np.zeros((4, 2)), head, label_names="abc", top=1, n_words=4)
    with pytest.raises(ValueError, match="head weight"):
        name_concepts(np.zeros((4, 3)), np.zeros((4, 2)), head, label_names="ab", top=1, n_words=1)


def test_name_accuracy_toy():
    """Hand-counted: 4 classes count (astronaut has no accepted output); top-1 hits cat only,
    top-3 also cup (its third word); ship has no concept (a miss)."""
    words = [f"w{i}" for i in range(10)]
    out = name_accuracy(
        [(2, 5, 7), (4, 1, 6), (0, 8, 9), (3, 2, 1), None],
        [[2, 3], [6], [1], [], [5]],
        class_names=["cat", "cup", "rocket", "astronaut", "ship"], n_outputs=10, top=3,
        words=words)
    assert out["top1"]["hits"] == 1 and out["top1"]["n_classes"] == 4
    assert out["top1"]["accuracy"] == 0.25 and out["top3"]["accuracy"] == 0.5
    # chance: |accepted| / K for top-1; 1 - C(K-a, 3) / C(K, 3) for top-3
    assert out["top1"]["chance"] == pytest.approx((2 + 1 + 1 + 1) / 10 / 4)
    c3 = {2: 1 - (8 * 7 * 6) / (10 * 9 * 8), 1: 1 - (9 * 8 * 7) / (10 * 9 * 8)}
    assert out["top3"]["chance"] == pytest.approx((c3[2] + 3 * c3[1]) / 4)
    pc = {r["class"]: r for r in out["per_class"]}
    assert pc["cat"] == {"class": "cat", "accepted": ["w2", "w3"], "names": ["w2", "w5", "w7"],
                         "counted": True, "hit_top1": True, "hit_top3": True}
    assert (pc["cup"]["hit_top1"], pc["cup"]["hit_top3"]) == (False, True)
    assert (pc["rocket"]["hit_top1"], pc["rocket"]["hit_top3"]) == (False, False)
    assert not pc["astronaut"]["counted"] and pc["astronaut"]["hit_top1"] is None
    assert pc["ship"]["names"] == [] and pc["ship"]["hit_top3"] is False
    # top=1: no ranked-list entry; words default to the outputs' indices
    one = name_accuracy([(2, 5)], [[5]], class_names=["cat"], n_outputs=10, top=1)
    assert set(one) == {"top1", "per_class"} and one["top1"]["accuracy"] == 0.0
    assert one["per_class"][0]["names"] == ["2"]
    # no class counts: no accuracy (not 0)
    none = name_accuracy([(1,)], [[]], class_names=["astronaut"], n_outputs=10)
    assert none["top1"] == {"hits": 0, "n_classes": 0, "accuracy": None, "chance": None}


def test_name_accuracy_errors():
    with pytest.raises(ValueError, match="one entry per class"):
        name_accuracy([(1,)], [[1], [2]], class_names=["a"], n_outputs=3)
    with pytest.raises(ValueError, match=r"accepted holds outputs \[7\] outside \[0, n_outputs=3"):
        name_accuracy([(1,)], [[7]], class_names=["a"], n_outputs=3)
    with pytest.raises(ValueError, match="top=0"):
        name_accuracy([(1,)], [[1]], class_names=["a"], n_outputs=3, top=0)
