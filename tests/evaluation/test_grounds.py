"""The image grounds' scores on arrays and on a tiny planted store (known answers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxconcepts.evaluation._grounds import importance_hits, part_correlations, reconstruction_r2
from tests.stages.test_c2mf import C, _write_planted


def test_part_correlations_know_the_answer():
    rng = np.random.default_rng(0)
    masks = (rng.random((5, 3, 16)) > 0.5).astype(np.float32)  # (B, P, p)
    U = np.stack([masks[:, 2], 1.0 - masks[:, 0], np.ones((5, 16))], -1)  # (B, p, k)
    corr = part_correlations(U, masks)
    assert corr.shape == (3, 3)
    np.testing.assert_allclose(corr[0, 2], 1.0, atol=1e-12)
    np.testing.assert_allclose(corr[1, 0], -1.0, atol=1e-12)
    assert np.all(corr[2] == 0.0)  # a constant code map correlates with nothing


class _Model:
    """Concept q's code = the rows' energy on part (q + shift)'s channels (part q: channels
    4q..4q+3), so its code map is that part's mask; it reconstructs into part q's channels, which
    class q's head output reads (``scale``: how much)."""

    def __init__(self, scale, shift=0):
        self.shift = shift
        self.W = np.zeros((4, C), np.float32)
        for q in range(4):
            self.W[q, 4 * q:4 * q + 4] = scale[q]

    def transform(self, A, y):
        return np.stack([np.asarray(A)[:, 4 * s:4 * s + 4].sum(1)
                         for s in (np.arange(4) + self.shift) % 4], 1)

    def reconstruct(self, U, y):
        return np.asarray(U) @ self.W


@pytest.fixture
def planted_view(tmp_path):
    from jaxconcepts.datasets import load_truth
    from jaxconcepts.evaluation._image_split import SplitRowsView, load_image_rows, split_by_image
    from jaxconcepts.store import ActivationStore

    _write_planted(tmp_path, n_per_class=6)
    store = ActivationStore(tmp_path / "data/fake/activations")
    data = load_image_rows(store, labels="target")
    split = split_by_image(data.cls, test_fraction=0.5, min_images=2, seed=0)
    return store, load_truth(tmp_path / "data/fake/prepare/truth", "test"), SplitRowsView(
        store, data, split)


def test_importance_hit_follows_the_most_important_concept(planted_view):
    store, truth, view = planted_view
    # the class's own part carries the logit: a hit in every class (recipes {c, 3})
    good = importance_hits(_Model([1.0, 1.0, 1.0, 0.01]), view, truth, store.images, store.head,
                           batch_images=4)
    assert good["importance_hit"] == 1.0 and good["n_classes"] == 3
    # class c's top concept is still concept c (it feeds output c), but its code map is part
    # c + 1's: in the recipe {c, 3} only for class 2
    bad = importance_hits(_Model([1.0, 1.0, 1.0, 0.01], shift=1), view, truth, store.images,
                          store.head, batch_images=4)
    assert bad["hits"] == {"0": False, "1": False, "2": True}
    assert importance_hits(_Model([1, 1, 1, 1]), view, truth, store.images, None,
                           batch_images=4) is None  # no linear head: no closed form


def test_r2_is_one_for_a_perfect_reconstruction_and_zero_for_the_mean(planted_view):
    store, truth, view = planted_view

    class Ident:
        def transform(self, A, y):
            return np.asarray(A)

        def reconstruct(self, U, y):
            return np.asarray(U)

    A = np.concatenate([b.A[:b.n].reshape(-1, C) for b in view.test_batches(4)])

    class Mean(Ident):
        def reconstruct(self, U, y):
            return np.broadcast_to(A.mean(0), np.shape(U))

    assert reconstruction_r2(Ident(), view, batch_images=4) == pytest.approx(1.0)
    assert reconstruction_r2(Mean(), view, batch_images=4) == pytest.approx(0.0, abs=1e-6)
    json.dumps(reconstruction_r2(Ident(), view, batch_images=3))
