"""Concept naming in the classifier's label space: hand-built heads whose answer is known."""

import numpy as np
import pytest

from jaxconcepts.evaluation._naming import name_concepts, naming_table, top_patches
from jaxconcepts.features import HeadParams


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
