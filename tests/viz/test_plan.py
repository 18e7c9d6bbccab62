"""Figure planning (viz/_plan.py): names, flags, counts and which figures an image gets."""

import numpy as np
import pytest

from jaxconcepts.viz import class_namer, concept_counts, image_figures, image_flags


def test_class_namer():
    assert class_namer({"class_names": ["cat", "dog"]})(1) == "dog"
    assert class_namer({"class_names": ["cat", "dog"]})(5) == "class 5"
    imagenet = class_namer({"head": {"num_classes": 1000}})
    assert imagenet(281) == "tabby, tabby cat" and imagenet(1000) == "class 1000"
    assert class_namer({"head": {"num_classes": 8}})(3) == "class 3"
    # folder classes under a 1000-output head name C2MF's classes, not the head's outputs
    folders = class_namer({"class_names": ["00_cat", "01_espresso"], "head": {"num_classes": 1000}})
    assert folders(281) == "tabby, tabby cat" and folders(1) != "01_espresso"
    trained = class_namer({"class_names": ["a", "b"], "head": {"num_classes": 2}})
    assert trained(1) == "b"


def test_image_flags_give_the_reason():
    assert image_flags("cgap", 0, 5, 5) == []
    assert "fewer than 5 concepts (2 found)" in image_flags("cpha", 1, 2, 5)[0]
    assert image_flags("cgap", 3, 0, 5) == [
        "CGAP: all activations are zero, so there is no concept to show"]


def test_concept_counts_by_hand():
    cnt, sub = concept_counts(np.array([0, 0, 1, -1, 2]), np.array([0, 1, 0, -1, 1]), 3, 2)
    np.testing.assert_array_equal(cnt, [2, 1, 1])
    np.testing.assert_array_equal(sub, [[1, 1], [1, 0], [0, 1]])


def test_image_figures_plan():
    k, s, hw = 3, 2, (6, 6)
    entry = {"index": 7, "name": "a.png", "pred_name": "cat", "target_name": "cat", "p_t": 0.9}
    lab, sub = np.array([0, 0, 2, -1]), np.array([0, 1, 0, -1])
    maps = {m: (lab, sub, np.random.default_rng(0).random((k, *hw)),
                np.random.default_rng(1).random((k, s, *hw))) for m in ("cgap", "cpha")}
    imp = {f"{m}_importance": np.array([[1.0, 0.0, 2.0]]) for m in ("cgap", "cpha")}
    imp |= {f"{m}_sub_importance": np.zeros((1, k, s)) for m in ("cgap", "cpha")}
    out = list(image_figures(entry, np.zeros(hw), maps, imp, 0, k, s))
    assert [(key, name) for key, name, _ in out] == [
        ("cgap", "00007_cgap.png"), ("cgap_sub", "00007_cgap_sub.png"),
        ("cpha", "00007_cpha.png"), ("cpha_sub", "00007_cpha_sub.png"),
        ("compare", "00007_compare.png")]
    # sub-concept rows: non-empty concepts by decreasing importance (concept 2, then 0)
    sub_fig = out[1][2]
    assert [ax.texts[0].get_text() for ax in sub_fig.axes][:2] == ["C2", "C0"]  # a row each
    no_sub = {m: (a, b, c, None) for m, (a, b, c, _) in maps.items()}
    assert [key for key, _, _ in image_figures(entry, np.zeros(hw), no_sub, imp, 0, k, 0)] == [
        "cgap", "cpha", "compare"]


def test_pick_rows_first_and_spread():
    from jaxconcepts.viz import pick_rows

    assert pick_rows(10, 3, "first") == [0, 1, 2]
    assert (pick_rows(900, 18, "spread")[:3] == [0, 53, 106]
            and pick_rows(900, 18, "spread")[-1] == 899)
    assert len(pick_rows(900, 18, "spread")) == 18
    # 9 classes x 100 images sorted by class: two images of every class
    classes = {r // 100 for r in pick_rows(900, 18, "spread")}
    assert classes == set(range(9))
    assert pick_rows(2, 5, "spread") == [0, 1] and pick_rows(0, 5, "spread") == []
    assert pick_rows(5, 0, "first") == []
    with pytest.raises(ValueError, match="'first' or 'spread'"):
        pick_rows(5, 2, "random")
