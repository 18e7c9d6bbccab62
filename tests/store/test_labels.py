"""ImageNet lemmas/definitions from timm, and the label space of a store's head."""

import pytest

from jaxconcepts.store import imagenet_definitions, imagenet_lemmas, imagenet_synsets, label_space


def test_imagenet_lists():
    syn, lem, dfn = imagenet_synsets(), imagenet_lemmas(), imagenet_definitions()
    assert len(syn) == len(lem) == len(dfn) == 1000
    assert syn[0] == "n01440764" and lem[0][0] == "tench"
    assert lem[1] == ("goldfish", "Carassius auratus")
    assert "freshwater" in dfn[1]
    assert all(x and x[0] for x in lem)


def test_label_space_sources():
    ls = label_space(1000)
    assert ls.source == "imagenet" and ls.names[1] == "goldfish" and len(ls.definitions) == 1000
    ls = label_space(3, ["cat", "dog", "cow"])
    assert ls.source == "store" and ls.names == ["cat", "dog", "cow"]
    ls = label_space(4)
    assert ls.source == "index" and ls.names[3] == "class 3"
    with pytest.raises(ValueError, match="class_names has 2 entries"):
        label_space(3, ["a", "b"])
    with pytest.raises(ValueError, match="n_classes"):
        label_space(0)
