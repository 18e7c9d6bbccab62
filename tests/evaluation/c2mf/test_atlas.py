"""The concept atlas's data (evaluation/c2mf/_atlas.py): codes, usage, names, drawing order."""

import numpy as np
import pytest

from jaxconcepts.evaluation.c2mf._atlas import (
    atlas_data,
    objects_name_accuracy,
    top_concepts,
)
from jaxconcepts.evaluation._image_split import SplitRowsView, load_image_rows, split_by_image
from jaxconcepts.report import atlas_markdown
from jaxconcepts.store import ActivationStore, HeadParams, StoreWriter

N, P, C, K = 12, 4, 6, 2  # images, positions (2x2), channels, concepts


class Shared:
    """C2MF-like: one dictionary; codes = the first K channels (>= 0); gates per class."""

    gates = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.05]])

    def transform(self, A, y):
        return np.maximum(np.asarray(A)[:, :K], 0.0)


class PerClass:
    """CRAFT/PCA-like: class y's codes are the channels 2y, 2y+1."""

    def transform(self, A, y):
        A, y = np.asarray(A), np.asarray(y)
        return np.stack([A[np.arange(len(y)), 2 * y], A[np.arange(len(y)), 2 * y + 1]], 1)


@pytest.fixture
def view(tmp_path):
    rng = np.random.default_rng(0)
    cls = np.repeat([0, 1, 2], 4)
    A = rng.random((N, P, C)).astype(np.float32)  # rows (N, p, c); the store holds (N, c, 2, 2)
    with StoreWriter(tmp_path / "s", shard_size=5) as w:
        w.add(activations=A.transpose(0, 2, 1).reshape(N, C, 2, 2),
              logits=np.zeros((N, 3), np.float32), target=cls, label=-np.ones(N), pred=cls,
              prob=np.ones(N, np.float32), index=np.arange(N))
        w.finish({"shape": [C, 2, 2], "images": []},
                 HeadParams(np.eye(3, C, dtype=np.float32), np.zeros(3, np.float32)))
    store = ActivationStore(tmp_path / "s")
    data = load_image_rows(store, labels="target")
    return SplitRowsView(store, data, split_by_image(cls, test_fraction=0.25, min_images=2, seed=0))


def _atlas(model, method, view, **kw):
    head = HeadParams(np.eye(3, C, dtype=np.float32), np.zeros(3, np.float32))
    args = dict(label_names=["a", "b", "c"], class_names=["x", "y", "z"], grid=(2, 2),
                gate_threshold=0.5, max_concepts=3, top=4, per_image=1, n_words=2,
                batch_images=5, max_images=64)
    return atlas_data(model, method, view, head, **{**args, **kw})


def test_shared_dictionary_codes_are_gated_and_most_shared_first(view):
    at = _atlas(Shared(), "c2mf", view)
    assert at.code_maps.shape == (N, K, 2, 2) and at.k == K and at.shared
    np.testing.assert_array_equal(at.images, np.arange(N))
    np.testing.assert_allclose(at.usage, Shared.gates)
    # code = U * gate of the image's class, laid out on the 2x2 grid (row-major positions)
    A = view.rows(np.arange(N))
    np.testing.assert_allclose(at.code_maps[5, 1].ravel(), A[5, :, 1] * Shared.gates[1, 1],
                               rtol=1e-6)
    assert at.order == [0, 1]  # C0 is open for 2 classes, C1 for 1
    assert at.labels == ["C0", "C1"]
    assert [len(n.words) for n in at.names] == [2, 2]
    # at most one patch per image (per_image=1): the 4 named rows come from 4 images
    assert len(set((np.asarray(at.names[0].rows) // P).tolist())) == 4


def test_per_class_dictionaries_are_block_diagonal(view):
    at = _atlas(PerClass(), "craft", view)
    assert at.code_maps.shape == (N, 3 * K, 2, 2) and at.k == K and not at.shared
    assert at.labels == ["x/0", "x/1", "y/0", "y/1", "z/0", "z/1"]
    off = np.ones((3, 3 * K), bool)
    for c in range(3):
        off[c, c * K:(c + 1) * K] = False
    assert np.all(at.usage[off] == 0) and np.allclose(at.usage.max(1), 1.0)
    # an image of class 1 has codes only in class 1's columns
    assert np.all(at.code_maps[4][[0, 1, 4, 5]] == 0) and at.code_maps[4][2:4].any()
    assert len(at.order) == 3
    md = atlas_markdown([at], figures={("craft", "atlas"): "f/atlas_craft.png"},
                        recipes={"craft": "| class | recipe |\n"}, gate_threshold=0.5,
                        dataset="toy")
    assert "![craft concept atlas](f/atlas_craft.png)" in md and "| class | recipe |" in md
    assert "### CRAFT (per-class NMF), k = 2" in md


def test_top_concept_is_the_used_concept_with_the_largest_mean_code(view):
    at = _atlas(Shared(), "c2mf", view)
    A = view.rows(np.arange(N))  # (N, p, c); codes: the first K channels times the class's gate
    cls = np.repeat([0, 1, 2], 4)
    mean1 = (np.maximum(A[cls == 1, :, :K], 0) * Shared.gates[1]).mean((0, 1))
    # class 0 opens C0 only; class 1 opens both (the larger mean gated code wins); class 2 none
    assert top_concepts(at, gate_threshold=0.5) == [0, int(np.argmax(mean1)), None]
    # the per-class baselines: each class's most used own concept (usage 1)
    pc = _atlas(PerClass(), "pca", view)
    tops = top_concepts(pc, gate_threshold=0.5)
    assert [t // K for t in tops] == [0, 1, 2]
    assert all(pc.usage[c, t] == 1.0 for c, t in enumerate(tops))


def test_objects_name_accuracy_and_its_table(view):
    """Folder classes 00_x, 01_y, 02_z under a stand-in ImageNet head: x is accepted as the
    synset its top concept is named by (a hit), y as another (a miss), z has none (left out)."""
    from jaxconcepts.store import imagenet_lemmas, imagenet_synsets

    syn = imagenet_synsets()
    folders = ["00_x", "01_y", "02_z"]
    at = _atlas(Shared(), "c2mf", view, class_names=folders)
    # name C0 by ImageNet outputs (7, 8, 9) and C1 by (8, 7, 9)
    at = at._replace(names=[at.names[0]._replace(outputs=(7, 8, 9)),
                            at.names[1]._replace(outputs=(8, 7, 9))])
    meta = {"classes": ["x", "y", "z"], "class_folders": folders,
            "objects": [{"class": "x", "wnids": [syn[7]]}, {"class": "y", "wnids": [syn[9]]},
                        {"class": "z", "wnids": []}]}
    acc = objects_name_accuracy([at], meta, n_outputs=1000, gate_threshold=0.5, top=3)
    r = acc["methods"]["c2mf"]
    assert acc["note"] is None and acc["unmatched"] == [] and r["k"] == K
    assert r["top1"]["hits"] == 1 and r["top1"]["n_classes"] == 2
    assert r["top1"]["chance"] == pytest.approx(1 / 1000)
    x, y, z = r["per_class"]
    assert (x["concept"], x["hit_top1"], x["hit_top3"]) == ("C0", True, True)
    assert x["names"][0] == imagenet_lemmas()[7][0]
    assert y["hit_top1"] is False and y["hit_top3"] is True  # 9 is both concepts' third word
    assert z["concept"] is None and not z["counted"]
    md = atlas_markdown([at], figures={}, recipes={}, gate_threshold=0.5, dataset="toy",
                        naming_accuracy=acc)
    assert "### Name accuracy (objects benchmark)" in md
    assert "| c2mf | 2 | 1/2 (0.50) | 0.001 | 2/2 (1.00) |" in md
    assert "| 02_z | – (not counted) | no concept used |" in md
    # a head that is not ImageNet-1k's: a note, no numbers
    other = objects_name_accuracy([at], meta, n_outputs=3, gate_threshold=0.5)
    assert other["methods"] == {} and "3 outputs" in other["note"]
    assert "Note: the head has 3 outputs" in atlas_markdown(
        [at], figures={}, recipes={}, gate_threshold=0.5, dataset="toy", naming_accuracy=other)
    assert "no atlas" in objects_name_accuracy([], meta, n_outputs=1000, gate_threshold=0.5)["note"]
    with pytest.raises(ValueError, match="not ImageNet-1k classes"):
        objects_name_accuracy([at], {"objects": [{"class": "x", "wnids": ["n0"]}]},
                              n_outputs=1000, gate_threshold=0.5)


def test_bad_method_and_class_names(view):
    with pytest.raises(ValueError, match="valid choices"):
        _atlas(Shared(), "nmf", view)
    with pytest.raises(ValueError, match="class_names has 2 entries"):
        _atlas(Shared(), "c2mf", view, class_names=["x", "y"])


@pytest.mark.slow
def test_clip_names_of_the_drawn_concepts(view):
    import torch

    from jaxconcepts.evaluation.c2mf._atlas import clip_concept_names
    from jaxconcepts.features._clip import load_clip
    from tests.features.test_clip import CFG

    torch.manual_seed(0)
    clip = load_clip(model_cfg=CFG, checkpoint=None)
    at = _atlas(Shared(), "c2mf", view)
    seen = []

    def load_image(pos):
        seen.append(pos)
        return np.full((8, 8, 3), 10 * pos, np.uint8)

    names = clip_concept_names(at, load_image, clip, grid=(2, 2), scale=1.0, n_words=3)
    assert sorted(names) == sorted(at.order)
    assert all(len(w) == 3 and w[0][1] >= w[1][1] for w in names.values())
    assert set(seen) <= set((np.asarray(at.names[0].rows) // P).tolist()
                            + (np.asarray(at.names[1].rows) // P).tolist())
